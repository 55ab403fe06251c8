#include "server/explain/attributions.h"

#include <numeric>

#include "server/explain/lime.h"
#include "server/util/status_macros.h"

namespace infer::explain {
namespace {

size_t TargetCount(const ScoreTarget& t) { return t.ids.empty() ? 1 : t.ids.size(); }

// The tokens a variant holds: causal models need the input up to the last target's predicting
// position; encoders the whole input.
size_t VariantLength(tasks::TaskModel& model, const AttributionInput& in) {
  if (!model.causal()) return in.ids.size();
  return static_cast<size_t>(in.target.first_position) + in.target.ids.size();
}

// A copy of the input with every feature whose keep[f] is 0 replaced by the baseline token.
std::vector<int32_t> Variant(const AttributionInput& in, size_t length,
                             const std::vector<uint8_t>& keep) {
  std::vector<int32_t> v(in.ids.begin(), in.ids.begin() + length);
  for (size_t t = 0; t < length; ++t) {
    const int32_t f = in.features.feature_of_token[t];
    if (f >= 0 && !keep[f]) v[t] = in.baseline_id;
  }
  return v;
}

double Sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

// Spreads per-feature values over tokens (Captum's feature-mask layout).
std::vector<float> OverTokens(const AttributionInput& in, const std::vector<double>& values) {
  std::vector<float> out(in.ids.size(), 0.0f);
  for (size_t t = 0; t < in.ids.size(); ++t) {
    const int32_t f = in.features.feature_of_token[t];
    if (f >= 0) out[t] = static_cast<float>(values[f]);
  }
  return out;
}

absl::Status CheckInput(tasks::TaskModel& model, const AttributionInput& in) {
  if (in.features.count <= 0) {
    return absl::InvalidArgumentError(
        "attributions: the input has no token that can be perturbed (only special tokens)");
  }
  if (in.features.feature_of_token.size() != in.ids.size() ||
      VariantLength(model, in) > in.ids.size()) {
    return absl::InternalError("attribution input is inconsistent");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AttributionResult> RunOcclusion(tasks::TaskModel& model,
                                               const AttributionInput& in) {
  INFER_RETURN_IF_ERROR(CheckInput(model, in));
  const int F = in.features.count;
  const size_t length = VariantLength(model, in);
  // Variant 0 is the input itself, 1..F drop one feature each, F+1 drops all of them.
  std::vector<std::vector<int32_t>> variants;
  std::vector<uint8_t> keep(F, 1);
  variants.push_back(Variant(in, length, keep));
  for (int f = 0; f < F; ++f) {
    keep.assign(F, 1);
    keep[f] = 0;
    variants.push_back(Variant(in, length, keep));
  }
  keep.assign(F, 0);
  variants.push_back(Variant(in, length, keep));
  INFER_ASSIGN_OR_RETURN(VariantScores s,
                         ScoreVariants(model, variants, in.type_ids, in.target));

  AttributionResult r;
  const size_t targets = TargetCount(in.target);
  r.base_score = Sum(s.log_probs[0]);
  r.baseline_score = Sum(s.log_probs[F + 1]);
  std::vector<double> total(F);
  for (int f = 0; f < F; ++f) total[f] = r.base_score - Sum(s.log_probs[f + 1]);
  r.sequence = OverTokens(in, total);
  r.feature_values.assign(total.begin(), total.end());
  for (size_t k = 0; k < targets; ++k) {
    std::vector<double> per(F);
    for (int f = 0; f < F; ++f) per[f] = s.log_probs[0][k] - s.log_probs[f + 1][k];
    std::vector<float> row = OverTokens(in, per);
    r.per_target.insert(r.per_target.end(), row.begin(), row.end());
  }
  r.evaluations = static_cast<int>(variants.size());
  r.engine_calls = s.engine_calls;
  return r;
}

absl::StatusOr<AttributionResult> RunLime(tasks::TaskModel& model, const AttributionInput& in,
                                          const LimeOptions& options) {
  INFER_RETURN_IF_ERROR(CheckInput(model, in));
  const int F = in.features.count;
  const size_t length = VariantLength(model, in);
  const std::vector<std::vector<uint8_t>> masks = LimeMasks(F, options.samples, options.seed);
  std::vector<std::vector<int32_t>> variants;
  for (const auto& m : masks) variants.push_back(Variant(in, length, m));
  variants.push_back(Variant(in, length, std::vector<uint8_t>(F, 0)));
  INFER_ASSIGN_OR_RETURN(VariantScores s,
                         ScoreVariants(model, variants, in.type_ids, in.target));

  AttributionResult r;
  const size_t targets = TargetCount(in.target);
  const size_t n = masks.size();
  r.base_score = Sum(s.log_probs[0]);
  r.baseline_score = Sum(s.log_probs[n]);
  std::vector<double> y(n);
  for (size_t i = 0; i < n; ++i) y[i] = Sum(s.log_probs[i]);
  INFER_ASSIGN_OR_RETURN(LimeFit fit,
                         FitLime(masks, y, options.kernel_width, options.ridge_alpha));
  r.fit_r2 = fit.r2;
  r.sequence = OverTokens(in, fit.coef);
  r.feature_values.assign(fit.coef.begin(), fit.coef.end());
  for (size_t k = 0; k < targets; ++k) {
    for (size_t i = 0; i < n; ++i) y[i] = s.log_probs[i][k];
    INFER_ASSIGN_OR_RETURN(LimeFit per,
                           FitLime(masks, y, options.kernel_width, options.ridge_alpha));
    std::vector<float> row = OverTokens(in, per.coef);
    r.per_target.insert(r.per_target.end(), row.begin(), row.end());
  }
  r.evaluations = static_cast<int>(variants.size());
  r.engine_calls = s.engine_calls;
  return r;
}

}  // namespace infer::explain
