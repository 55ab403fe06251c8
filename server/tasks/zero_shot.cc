#include "server/tasks/zero_shot.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/tasks/pooling.h"
#include "server/util/status_macros.h"

namespace infer::tasks {
namespace {

// log_softmax(row)[token] in double.
double LogProb(std::span<const float> row, int32_t token) {
  const float mx = *std::max_element(row.begin(), row.end());
  double sum = 0.0;
  for (float v : row) sum += std::exp(static_cast<double>(v) - mx);
  return static_cast<double>(row[token]) - mx - std::log(sum);
}

}  // namespace

std::vector<double> SoftmaxD(std::span<const double> x) {
  std::vector<double> p(x.begin(), x.end());
  if (p.empty()) return p;
  const double mx = *std::max_element(p.begin(), p.end());
  double sum = 0.0;
  for (double& v : p) sum += (v = std::exp(v - mx));
  for (double& v : p) v /= sum;
  return p;
}

absl::StatusOr<std::vector<double>> ScoreContinuations(
    runtime::CausalLm& lm, std::span<const int32_t> prompt,
    std::span<const std::vector<int32_t>> continuations) {
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  for (const auto& c : continuations) {
    if (c.empty()) return absl::InvalidArgumentError("a label has no tokens");
  }
  const int vocab = lm.vocab_size();
  std::vector<runtime::SeqId> owned;
  auto release = [&] {
    for (runtime::SeqId s : owned) lm.Release(s);
  };
  INFER_ASSIGN_OR_RETURN(runtime::SeqId base, lm.NewSequence());
  owned.push_back(base);
  runtime::StepItem first{base, std::vector<int32_t>(prompt.begin(), prompt.end())};
  runtime::StepOutput out;
  if (absl::Status st = lm.Step({&first, 1}, false, &out); !st.ok()) {
    release();
    return st;
  }
  std::span<const float> next(out.logits.data(), vocab);
  std::vector<double> scores;
  for (const auto& c : continuations) scores.push_back(LogProb(next, c[0]));

  // Tokens after the first: feed each continuation but its last token to a fork of the prompt;
  // the logits after token i score token i + 1.
  std::vector<runtime::StepItem> items;
  std::vector<size_t> which;
  for (size_t i = 0; i < continuations.size(); ++i) {
    if (continuations[i].size() < 2) continue;
    absl::StatusOr<runtime::SeqId> f = lm.Fork(base);
    if (!f.ok()) {
      release();
      return f.status();
    }
    owned.push_back(*f);
    items.push_back({*f, std::vector<int32_t>(continuations[i].begin(), continuations[i].end() - 1)});
    which.push_back(i);
  }
  if (!items.empty()) {
    // The CausalLm step returns last-position logits only, so walk the continuations one token
    // per step (all forks batched together).
    size_t longest = 0;
    for (const auto& it : items) longest = std::max(longest, it.tokens.size());
    for (size_t t = 0; t < longest; ++t) {
      std::vector<runtime::StepItem> step;
      std::vector<size_t> idx;
      for (size_t k = 0; k < items.size(); ++k) {
        if (t < items[k].tokens.size()) {
          step.push_back({items[k].seq, {items[k].tokens[t]}});
          idx.push_back(which[k]);
        }
      }
      runtime::StepOutput o;
      if (absl::Status st = lm.Step(step, false, &o); !st.ok()) {
        release();
        return st;
      }
      for (size_t k = 0; k < idx.size(); ++k) {
        std::span<const float> row(o.logits.data() + k * vocab, vocab);
        scores[idx[k]] += LogProb(row, continuations[idx[k]][t + 1]);
      }
    }
  }
  release();
  return scores;
}

absl::StatusOr<ZeroShotScores> LmZeroShot(runtime::CausalLm& lm, std::span<const int32_t> prompt,
                                          std::span<const std::vector<int32_t>> label_tokens,
                                          bool length_normalize) {
  if (label_tokens.size() < 2) {
    return absl::InvalidArgumentError("zero-shot classification needs at least two labels");
  }
  ZeroShotScores r;
  INFER_ASSIGN_OR_RETURN(r.scores, ScoreContinuations(lm, prompt, label_tokens));
  std::vector<double> basis = r.scores;
  if (length_normalize) {
    for (size_t i = 0; i < basis.size(); ++i) basis[i] /= label_tokens[i].size();
  }
  r.probs = SoftmaxD(basis);
  return r;
}

absl::StatusOr<NliLabelIds> FindNliLabelIds(const std::map<int64_t, std::string>& id2label) {
  NliLabelIds ids;
  std::vector<std::string> names;
  for (const auto& [id, name] : id2label) {
    std::string lower = absl::AsciiStrToLower(name);
    if (absl::StartsWith(lower, "entail")) ids.entailment = static_cast<int>(id);
    if (absl::StartsWith(lower, "contra")) ids.contradiction = static_cast<int>(id);
    names.push_back(name);
  }
  if (ids.entailment < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the model is not an NLI model: no label starts with \"entail\" (labels: ",
        absl::StrJoin(names, ", "), ")"));
  }
  return ids;
}

ZeroShotScores NliZeroShotFromLogits(std::span<const std::vector<float>> logits,
                                     const NliLabelIds& ids, bool multi_label) {
  ZeroShotScores r;
  for (const auto& row : logits) r.scores.push_back(row[ids.entailment]);
  if (!multi_label || ids.contradiction < 0) {
    r.probs = SoftmaxD(r.scores);
    return r;
  }
  for (const auto& row : logits) {
    const double pair[2] = {row[ids.contradiction], row[ids.entailment]};
    r.probs.push_back(SoftmaxD(pair)[1]);
  }
  return r;
}

ZeroShotScores EmbeddingZeroShot(std::span<const float> text,
                                 std::span<const std::vector<float>> labels, double temperature) {
  ZeroShotScores r;
  std::vector<double> scaled;
  for (const auto& l : labels) {
    r.scores.push_back(CosineSimilarity(text, l));
    scaled.push_back(r.scores.back() / temperature);
  }
  r.probs = SoftmaxD(scaled);
  return r;
}

}  // namespace infer::tasks
