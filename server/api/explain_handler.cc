#include "server/api/explain_handler.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "server/api/explain_blocks.h"
#include "server/api/explain_request.h"
#include "server/api/explain_run.h"
#include "server/explain/features.h"
#include "server/explain/lens_stats.h"
#include "server/explain/norm_weighted.h"
#include "server/explain/pca.h"
#include "server/explain/rollout.h"
#include "server/util/status_macros.h"

namespace infer::api {
namespace {

namespace pb = infer::v1;

void FillHeader(const ExplainPlan& plan, const ExplainRun& run, tasks::TaskModel& model,
                const std::string& name, pb::ExplainHeader* h) {
  const model::ModelInfo& info = model.info();
  const tokenizer::Tokenizer& tok = model.tokenizer();
  h->set_model(name);
  h->set_family(info.family);
  h->set_causal(model.causal());
  h->set_layers(info.num_layers);
  h->set_heads(info.num_heads);
  h->set_kv_heads(info.num_kv_heads);
  h->set_hidden_size(info.hidden_size);
  h->set_head_dim(info.head_dim);
  h->set_vocab_size(info.vocab_size);
  const tokenizer::Encoding& e = plan.input;
  for (size_t k = 0; k < run.ids.size(); ++k) {
    pb::Token* t = h->add_tokens();
    t->set_id(run.ids[k]);
    if (k < e.ids.size()) {
      t->set_text(e.tokens[k]);
      t->set_start(static_cast<uint32_t>(e.offsets[k].first));
      t->set_end(static_cast<uint32_t>(e.offsets[k].second));
      t->set_special(e.special_mask[k] != 0);
      t->set_segment(static_cast<uint32_t>(e.type_ids[k]));
    } else {
      t->set_text(tok.IdToToken(run.ids[k]));
      t->set_special(tok.IsSpecial(run.ids[k]));
    }
  }
  h->set_input_tokens(static_cast<uint32_t>(plan.input_tokens));
  h->set_target_kind(plan.target);
  for (size_t i = 0; i < run.target_ids.size(); ++i) {
    pb::ExplainTargetToken* t = h->add_targets();
    t->set_position(run.target_positions[i]);
    t->set_id(run.target_ids[i]);
    if (plan.target == pb::EXPLAIN_TARGET_CLASS_LABEL) {
      auto it = info.id2label.find(run.target_ids[i]);
      t->set_text(it != info.id2label.end() ? it->second
                                            : absl::StrCat("LABEL_", run.target_ids[i]));
    } else {
      const int32_t id = run.target_ids[i];
      t->set_text(tok.Decode(std::span<const int32_t>(&id, 1)));
    }
  }
  h->set_generated_text(run.generated_text);
  for (int i = 0; i < info.num_labels; ++i) {
    auto it = info.id2label.find(i);
    h->add_labels(it != info.id2label.end() ? it->second : absl::StrCat("LABEL_", i));
  }
  for (pb::ExplainMethod m : plan.methods) h->add_methods(m);
  h->set_baseline_token_id(plan.baseline_id);
}

bool SendLens(ExplainStream& stream, const ExplainPlan& plan, const ExplainRun& run,
              tasks::TaskModel& model) {
  const int V = model.info().vocab_size;
  const tokenizer::Tokenizer& tok = model.tokenizer();
  const size_t T = run.ids.size();
  for (size_t li = 0; li < plan.layers.size(); ++li) {
    pb::ExplainAttentionResponse msg;
    pb::LogitLensBlock* b = msg.mutable_logit_lens();
    b->set_layer(plan.layers[li]);
    uint64_t bytes = 0;
    for (size_t pi = 0; pi < run.lens_positions.size(); ++pi) {
      const uint32_t p = run.lens_positions[pi];
      // The token that follows: the next explained token, or the predicted target after the end.
      int32_t target = -1;
      if (p + 1 < T) {
        target = run.ids[p + 1];
      } else if (!run.target_ids.empty() && run.target_positions.back() == p) {
        target = run.target_ids.back();
      }
      const explain::LensStats s = explain::LensAtPosition(
          std::span<const float>(run.lens_logits[li].data() + pi * V, V),
          std::span<const float>(run.final_logits.data() + pi * V, V), target, plan.lens_top_k);
      pb::LensPosition* out = b->add_positions();
      out->set_position(p);
      for (size_t k = 0; k < s.top_ids.size(); ++k) {
        pb::LensCandidate* c = out->add_top();
        const int32_t id = s.top_ids[k];
        c->set_id(id);
        c->set_text(tok.Decode(std::span<const int32_t>(&id, 1)));
        c->set_probability(s.top_probs[k]);
        bytes += 8 + c->text().size();
      }
      out->set_target_id(s.target_id);
      out->set_target_rank(s.target_rank);
      out->set_target_probability(s.target_prob);
      out->set_entropy(s.entropy);
      out->set_kl_to_final(s.kl_to_final);
      bytes += 24;
    }
    if (!stream.Block(msg, bytes, absl::StrCat("logit lens layer ", plan.layers[li]))) {
      return false;
    }
  }
  return true;
}

bool SendAttribution(ExplainStream& stream, const ExplainPlan& plan, pb::ExplainMethod method,
                     const explain::AttributionResult& r, const std::vector<std::string>& texts) {
  pb::ExplainAttentionResponse msg;
  pb::AttributionBlock* b = msg.mutable_attribution();
  b->set_method(method);
  b->set_granularity(plan.granularity == explain::Granularity::kWord
                         ? pb::EXPLAIN_GRANULARITY_WORD
                     : plan.granularity == explain::Granularity::kSegment
                         ? pb::EXPLAIN_GRANULARITY_SEGMENT
                         : pb::EXPLAIN_GRANULARITY_TOKEN);
  b->set_base_score(r.base_score);
  b->set_baseline_score(r.baseline_score);
  b->mutable_sequence_attribution()->Add(r.sequence.begin(), r.sequence.end());
  b->mutable_token_attribution()->Add(r.per_target.begin(), r.per_target.end());
  const std::vector<int32_t>& f = plan.features.feature_of_token;
  for (size_t t = 0; t < r.sequence.size(); ++t) b->add_feature_of_token(t < f.size() ? f[t] : -1);
  b->mutable_feature_attribution()->Add(r.feature_values.begin(), r.feature_values.end());
  uint64_t bytes = (r.sequence.size() * 2 + r.per_target.size() + r.feature_values.size()) * 4;
  for (const std::string& t : texts) {
    b->add_feature_text(t);
    bytes += t.size();
  }
  b->set_evaluations(static_cast<uint32_t>(r.evaluations));
  b->set_fit_r2(r.fit_r2);
  return stream.Block(msg, bytes,
                      method == pb::EXPLAIN_METHOD_LIME ? "LIME attribution" : "occlusion attribution");
}

absl::Status SendBlocks(ExplainStream& stream, const ExplainPlan& plan, const ExplainRun& run,
                        tasks::TaskModel& model, CallScope& call) {
  const model::ModelInfo& info = model.info();
  const int T = static_cast<int>(run.ids.size());
  MapSelection sel{T, plan.query_rows, plan.top_k_keys, plan.float16};
  std::vector<uint32_t> layers;  // of the attention-shaped methods
  for (uint32_t l : plan.layers) {
    if (l < static_cast<uint32_t>(info.num_layers)) layers.push_back(l);
  }
  auto selected = [&](int l) {
    return std::find(layers.begin(), layers.end(), static_cast<uint32_t>(l)) != layers.end();
  };
  const auto& cap = run.capture;
  for (pb::ExplainMethod m : plan.methods) {
    bool ok = true;
    switch (m) {
      case pb::EXPLAIN_METHOD_ATTENTION:
        for (uint32_t l : layers) {
          ok = ok && SendMaps(stream, pb::ATTENTION_MAP_PROBABILITIES, l,
                              cap.attentions[l].data(), plan.heads, sel);
        }
        break;
      case pb::EXPLAIN_METHOD_NEURON_VIEW:
        for (uint32_t l : layers) {
          ok = ok && SendQueryKeys(stream, l, cap.queries[l], cap.keys[l], plan.heads, T,
                                   info.num_heads, info.num_kv_heads, info.head_dim,
                                   run.scales[l], plan.float16);
        }
        break;
      case pb::EXPLAIN_METHOD_ROLLOUT: {
        // Every layer enters the product; the selected ones are sent.
        explain::RolloutAccumulator acc(T);
        for (int l = 0; l < info.num_layers && ok; ++l) {
          acc.AddLayer(cap.attentions[l], info.num_heads);
          if (selected(l)) {
            ok = SendMaps(stream, pb::ATTENTION_MAP_ROLLOUT, l, acc.current().data(), {}, sel);
          }
        }
        break;
      }
      case pb::EXPLAIN_METHOD_NORM_WEIGHTED:
        for (uint32_t l : layers) {
          if (!ok) break;
          const explain::NormWeightedMaps nw = explain::NormWeightedAttention(
              cap.attentions[l], cap.values[l], run.out_proj[l], info.num_heads,
              info.num_kv_heads, info.head_dim, info.hidden_size, T);
          ok = SendMaps(stream, pb::ATTENTION_MAP_NORM_WEIGHTED, l, nw.per_head.data(),
                        plan.heads, sel) &&
               SendMaps(stream, pb::ATTENTION_MAP_NORM_WEIGHTED_SUM, l, nw.summed.data(), {},
                        sel);
        }
        break;
      case pb::EXPLAIN_METHOD_LOGIT_LENS:
        ok = SendLens(stream, plan, run, model);
        break;
      case pb::EXPLAIN_METHOD_OCCLUSION:
      case pb::EXPLAIN_METHOD_LIME: {
        const auto& r = m == pb::EXPLAIN_METHOD_LIME ? run.lime : run.occlusion;
        const std::vector<std::string> texts =
            explain::FeatureTexts(plan.features, plan.input.offsets, plan.span_segments,
                                  plan.text_a, plan.text_b, plan.input.tokens);
        ok = SendAttribution(stream, plan, m, *r, texts);
        break;
      }
      case pb::EXPLAIN_METHOD_PROJECTION: {
        const int n = static_cast<int>(plan.projection_inputs.size());
        INFER_ASSIGN_OR_RETURN(explain::Projection proj,
                               explain::PcaProject(run.pooled, n, info.hidden_size,
                                                   std::min(plan.projection_dims, n)));
        pb::ExplainAttentionResponse msg;
        pb::ProjectionBlock* b = msg.mutable_projection();
        b->set_layer(static_cast<uint32_t>(plan.projection_layer));
        b->set_dims(static_cast<uint32_t>(std::min(plan.projection_dims, n)));
        b->set_pooling(plan.pooling == explain::Pooling::kFirst  ? pb::EXPLAIN_POOLING_FIRST
                       : plan.pooling == explain::Pooling::kLast ? pb::EXPLAIN_POOLING_LAST
                                                                 : pb::EXPLAIN_POOLING_MEAN);
        uint64_t bytes = proj.coords.size() * 4 + proj.explained_variance_ratio.size() * 4;
        for (const std::string& t : plan.projection_texts) {
          b->add_texts(t);
          bytes += t.size();
        }
        b->mutable_coordinates()->Add(proj.coords.begin(), proj.coords.end());
        b->mutable_explained_variance_ratio()->Add(proj.explained_variance_ratio.begin(),
                                                   proj.explained_variance_ratio.end());
        ok = stream.Block(msg, bytes, "projection");
        break;
      }
      default:
        break;
    }
    if (!ok) return call.EndedStatus();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status HandleExplainAttention(const pb::ExplainAttentionRequest& request,
                                    grpc::ServerWriter<pb::ExplainAttentionResponse>* writer,
                                    const service::ModelSet& models,
                                    const service::ServiceLimits& limits, CallScope& call) {
  INFER_ASSIGN_OR_RETURN(service::ServedModel * served,
                         models.Resolve(request.model(), service::Rpc::kExplainAttention));
  call.model = served->name();
  tasks::TaskModel& model = served->model();
  INFER_ASSIGN_OR_RETURN(ExplainPlan plan, PlanExplain(request, model, limits));
  const int64_t max_tokens = plan.input_tokens + static_cast<int64_t>(plan.continuation.size()) +
                             plan.generate_tokens;
  INFER_RETURN_IF_ERROR(CheckBudget(plan, model, limits, max_tokens));

  ExplainRun run;
  INFER_RETURN_IF_ERROR(served->RunExclusive(
      [&]() -> absl::Status {
        INFER_ASSIGN_OR_RETURN(run, RunExplain(plan, model));
        return absl::OkStatus();
      },
      max_tokens, call.Lifetime()));

  uint64_t max_bytes = std::numeric_limits<uint64_t>::max();
  if (plan.allow_truncation) {
    max_bytes = static_cast<uint64_t>(limits.max_explain_bytes);
    if (plan.max_bytes > 0) max_bytes = std::min<uint64_t>(max_bytes, plan.max_bytes);
  }
  ExplainStream stream(writer, max_bytes);
  pb::ExplainAttentionResponse header;
  FillHeader(plan, run, model, call.model, header.mutable_header());
  if (!stream.Control(header)) return call.EndedStatus();
  INFER_RETURN_IF_ERROR(SendBlocks(stream, plan, run, model, call));

  pb::ExplainAttentionResponse footer;
  pb::ExplainFooter* f = footer.mutable_footer();
  f->set_forward_passes(static_cast<uint32_t>(run.forward_passes));
  f->set_engine_calls(static_cast<uint32_t>(run.engine_calls));
  f->set_bytes_sent(stream.bytes_sent());
  f->set_truncated(stream.truncated());
  for (const std::string& what : stream.omitted()) f->add_omitted(what);
  f->set_wall_ms(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                           call.start)
                     .count());
  f->mutable_usage()->set_prompt_tokens(static_cast<uint32_t>(plan.input_tokens));
  f->mutable_usage()->set_generated_tokens(static_cast<uint32_t>(run.generated));
  call.metrics->AddPromptTokens(call.model, static_cast<double>(plan.input_tokens));
  if (!stream.Control(footer)) return call.EndedStatus();
  return absl::OkStatus();
}

}  // namespace infer::api
