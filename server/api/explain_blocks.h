// Turns explanation results into ExplainAttention messages and sends them under the reply's byte
// budget: attention-shaped maps with row selection, top-k keys and float16; query/key vectors;
// logit-lens layers; attributions; projections. Large layers are split by heads so that every
// message stays under gRPC's default 4 MiB receive limit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "grpcpp/support/sync_stream.h"

#include "infer/v1/explain.pb.h"

namespace infer::api {

// The writer with byte accounting: over the budget, a block is left out and named (truncation)
// rather than sent.
class ExplainStream {
 public:
  ExplainStream(grpc::ServerWriter<infer::v1::ExplainAttentionResponse>* writer,
                uint64_t max_bytes)
      : writer_(writer), max_bytes_(max_bytes) {}

  // Sends a block of `payload` bytes; false when the client is gone.
  bool Block(const infer::v1::ExplainAttentionResponse& msg, uint64_t payload,
             const std::string& what);
  // Sends a message outside the budget (header, footer).
  bool Control(const infer::v1::ExplainAttentionResponse& msg) { return writer_->Write(msg); }

  uint64_t bytes_sent() const { return bytes_sent_; }
  bool truncated() const { return !omitted_.empty(); }
  const std::vector<std::string>& omitted() const { return omitted_; }

 private:
  grpc::ServerWriter<infer::v1::ExplainAttentionResponse>* writer_;
  uint64_t max_bytes_;
  uint64_t bytes_sent_ = 0;
  std::vector<std::string> omitted_;
};

struct MapSelection {
  int tokens = 0;                       // T: maps are [T, T]
  std::vector<uint32_t> query_rows;     // empty: all rows
  uint32_t top_k = 0;                   // 0: all keys
  bool float16 = false;
};

// maps: [n, T, T] row-major. heads: which of the n maps to send, each labelled by its index;
// empty: one head-less map (n = 1). False when the client is gone.
bool SendMaps(ExplainStream& stream, infer::v1::AttentionMapKind kind, uint32_t layer,
              const float* maps, const std::vector<uint32_t>& heads, const MapSelection& sel);

// queries: [T, heads*d]; keys: [T, kv_heads*d] (each query head gets its KV head's keys).
bool SendQueryKeys(ExplainStream& stream, uint32_t layer, const std::vector<float>& queries,
                   const std::vector<float>& keys, const std::vector<uint32_t>& heads,
                   int tokens, int num_heads, int kv_heads, int head_dim, float scale,
                   bool float16);

}  // namespace infer::api
