#include "server/api/explain_blocks.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/explain/half.h"
#include "server/explain/top_k.h"

namespace infer::api {
namespace {

namespace pb = infer::v1;

// Payload per message: under 4 MiB with room for the message's other fields.
constexpr uint64_t kMaxBlockBytes = uint64_t{3} << 20;

const char* KindName(pb::AttentionMapKind kind) {
  switch (kind) {
    case pb::ATTENTION_MAP_PROBABILITIES: return "attention";
    case pb::ATTENTION_MAP_NORM_WEIGHTED: return "norm-weighted attention";
    case pb::ATTENTION_MAP_NORM_WEIGHTED_SUM: return "norm-weighted attention (summed)";
    case pb::ATTENTION_MAP_ROLLOUT: return "rollout";
    default: return "map";
  }
}

void AddValues(const std::vector<float>& v, bool float16,
               google::protobuf::RepeatedField<float>* f32, std::string* f16) {
  if (float16) {
    explain::AppendHalves(v, f16);
  } else {
    f32->Add(v.begin(), v.end());
  }
}

}  // namespace

bool ExplainStream::Block(const pb::ExplainAttentionResponse& msg, uint64_t payload,
                          const std::string& what) {
  if (bytes_sent_ + payload > max_bytes_) {
    omitted_.push_back(what);
    return true;
  }
  bytes_sent_ += payload;
  return writer_->Write(msg);
}

bool SendMaps(ExplainStream& stream, pb::AttentionMapKind kind, uint32_t layer,
              const float* maps, const std::vector<uint32_t>& heads, const MapSelection& sel) {
  const uint64_t T = static_cast<uint64_t>(sel.tokens);
  std::vector<uint32_t> rows = sel.query_rows;
  if (rows.empty()) {
    for (uint32_t r = 0; r < T; ++r) rows.push_back(r);
  }
  const uint32_t k = sel.top_k > 0 ? std::min<uint32_t>(sel.top_k, static_cast<uint32_t>(T)) : 0;
  const uint64_t cols = k > 0 ? k : T;
  const uint64_t entry = (sel.float16 ? 2 : 4) + (k > 0 ? 4 : 0);
  const uint64_t map_bytes = rows.size() * cols * entry;
  // Head-less maps are one map, labelled by no head.
  const std::vector<uint32_t> order = heads.empty() ? std::vector<uint32_t>{0} : heads;
  const size_t per_block = std::max<uint64_t>(1, kMaxBlockBytes / std::max<uint64_t>(1, map_bytes));
  std::vector<float> values;
  std::vector<uint32_t> idx(cols);
  std::vector<float> top(cols);
  for (size_t first = 0; first < order.size(); first += per_block) {
    const size_t last = std::min(order.size(), first + per_block);
    pb::ExplainAttentionResponse msg;
    pb::AttentionBlock* a = msg.mutable_attention();
    a->set_layer(layer);
    a->set_kind(kind);
    a->set_query_tokens(static_cast<uint32_t>(T));
    a->set_key_tokens(static_cast<uint32_t>(T));
    if (!sel.query_rows.empty()) a->mutable_query_rows()->Add(rows.begin(), rows.end());
    a->set_top_k(k);
    values.clear();
    for (size_t i = first; i < last; ++i) {
      if (!heads.empty()) a->add_heads(order[i]);
      const float* map = maps + static_cast<uint64_t>(order[i]) * T * T;
      for (uint32_t r : rows) {
        const float* row = map + static_cast<uint64_t>(r) * T;
        if (k == 0) {
          values.insert(values.end(), row, row + T);
        } else {
          explain::TopKRow({row, T}, static_cast<int>(k), idx.data(), top.data());
          values.insert(values.end(), top.begin(), top.begin() + k);
          a->mutable_key_indices()->Add(idx.begin(), idx.begin() + k);
        }
      }
    }
    AddValues(values, sel.float16, a->mutable_values(), a->mutable_values_f16());
    std::string what = absl::StrCat(KindName(kind), " layer ", layer);
    if (!heads.empty()) {
      absl::StrAppend(&what, " heads ", order[first], "..", order[last - 1]);
    }
    if (!stream.Block(msg, (last - first) * map_bytes, what)) return false;
  }
  return true;
}

bool SendQueryKeys(ExplainStream& stream, uint32_t layer, const std::vector<float>& queries,
                   const std::vector<float>& keys, const std::vector<uint32_t>& heads,
                   int tokens, int num_heads, int kv_heads, int head_dim, float scale,
                   bool float16) {
  const uint64_t T = tokens, d = head_dim;
  const uint64_t head_bytes = T * d * 2 * (float16 ? 2 : 4);
  const size_t per_block = std::max<uint64_t>(1, kMaxBlockBytes / std::max<uint64_t>(1, head_bytes));
  const int group = std::max(1, num_heads / std::max(1, kv_heads));
  std::vector<float> q, k;
  for (size_t first = 0; first < heads.size(); first += per_block) {
    const size_t last = std::min(heads.size(), first + per_block);
    pb::ExplainAttentionResponse msg;
    pb::QueryKeyBlock* b = msg.mutable_query_key();
    b->set_layer(layer);
    b->set_tokens(static_cast<uint32_t>(T));
    b->set_head_dim(static_cast<uint32_t>(d));
    b->set_scale(scale);
    q.clear();
    k.clear();
    for (size_t i = first; i < last; ++i) {
      const uint32_t h = heads[i];
      const uint32_t g = h / group;
      b->add_heads(h);
      for (uint64_t t = 0; t < T; ++t) {
        const float* qs = queries.data() + t * num_heads * d + h * d;
        const float* ks = keys.data() + t * kv_heads * d + g * d;
        q.insert(q.end(), qs, qs + d);
        k.insert(k.end(), ks, ks + d);
      }
    }
    AddValues(q, float16, b->mutable_queries(), b->mutable_queries_f16());
    AddValues(k, float16, b->mutable_keys(), b->mutable_keys_f16());
    if (!stream.Block(msg, (last - first) * head_bytes,
                      absl::StrCat("query/key layer ", layer, " heads ", heads[first], "..",
                                   heads[last - 1]))) {
      return false;
    }
  }
  return true;
}

}  // namespace infer::api
