#include "server/runtime/logits_processors.h"

#include <algorithm>
#include <limits>

#include "server/runtime/logits_warpers.h"

namespace infer::runtime {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

bool InRange(int32_t id, std::span<float> scores) {
  return id >= 0 && static_cast<size_t>(id) < scores.size();
}

void BanEos(std::span<const int32_t> eos, std::span<float> scores) {
  for (int32_t id : eos) {
    if (InRange(id, scores)) scores[id] = kNegInf;
  }
}

}  // namespace

void RepetitionPenaltyProcessor::Apply(std::span<const int32_t> input_ids,
                                       std::span<float> scores) const {
  // torch gathers every position, then scatters back; repeated ids write the same value, so
  // each distinct id is penalised once, from its original score.
  std::vector<int32_t> ids(input_ids.begin(), input_ids.end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (int32_t id : ids) {
    if (!InRange(id, scores)) continue;
    float& s = scores[id];
    s = s < 0.0f ? s * penalty_ : s / penalty_;
  }
}

void NoRepeatNGramProcessor::Apply(std::span<const int32_t> input_ids,
                                   std::span<float> scores) const {
  const int cur_len = static_cast<int>(input_ids.size());
  if (n_ <= 0 || cur_len + 1 < n_) return;
  // The n-1 most recent tokens; every earlier n-gram starting with them bans its last token.
  const int prefix_len = n_ - 1;
  std::span<const int32_t> prefix = input_ids.subspan(cur_len - prefix_len, prefix_len);
  for (int start = 0; start + n_ <= cur_len; ++start) {
    if (std::equal(prefix.begin(), prefix.end(), input_ids.begin() + start)) {
      const int32_t banned = input_ids[start + prefix_len];
      if (InRange(banned, scores)) scores[banned] = kNegInf;
    }
  }
}

NoBadWordsProcessor::NoBadWordsProcessor(std::vector<std::vector<int32_t>> bad_words_ids,
                                         std::span<const int32_t> eos_token_ids) {
  for (auto& word : bad_words_ids) {
    if (word.empty()) continue;
    if (word.size() == 1) {
      if (std::find(eos_token_ids.begin(), eos_token_ids.end(), word[0]) != eos_token_ids.end())
        continue;  // transformers never bans eos through bad_words_ids
      single_.push_back(word[0]);
    } else {
      multi_.push_back(std::move(word));
    }
  }
}

void NoBadWordsProcessor::Apply(std::span<const int32_t> input_ids, std::span<float> scores) const {
  for (int32_t id : single_) {
    if (InRange(id, scores)) scores[id] += kNegInf;
  }
  for (const auto& word : multi_) {
    // transformers skips a word longer than the context, even when only its prefix would fit.
    if (word.size() > input_ids.size()) continue;
    const size_t prefix_len = word.size() - 1;
    if (std::equal(word.begin(), word.end() - 1, input_ids.end() - prefix_len)) {
      const int32_t last = word.back();
      if (InRange(last, scores)) scores[last] += kNegInf;
    }
  }
}

void MinLengthProcessor::Apply(std::span<const int32_t> input_ids, std::span<float> scores) const {
  if (static_cast<int>(input_ids.size()) < min_length_) BanEos(eos_, scores);
}

void MinNewTokensProcessor::Apply(std::span<const int32_t> input_ids,
                                  std::span<float> scores) const {
  if (static_cast<int>(input_ids.size()) - prompt_len_ < min_new_tokens_) BanEos(eos_, scores);
}

LogitsPipeline BuildLogitsPipeline(const GenerationOptions& o, DecodingMode mode, int prompt_len) {
  LogitsPipeline pipeline;
  if (o.repetition_penalty != 1.0)
    pipeline.Add(
        std::make_unique<RepetitionPenaltyProcessor>(static_cast<float>(o.repetition_penalty)));
  if (o.no_repeat_ngram_size > 0)
    pipeline.Add(std::make_unique<NoRepeatNGramProcessor>(o.no_repeat_ngram_size));
  if (!o.bad_words_ids.empty())
    pipeline.Add(std::make_unique<NoBadWordsProcessor>(o.bad_words_ids, o.eos_token_ids));
  if (o.min_length > 0 && !o.eos_token_ids.empty())
    pipeline.Add(std::make_unique<MinLengthProcessor>(o.min_length, o.eos_token_ids));
  if (o.min_new_tokens > 0 && !o.eos_token_ids.empty())
    pipeline.Add(
        std::make_unique<MinNewTokensProcessor>(prompt_len, o.min_new_tokens, o.eos_token_ids));

  if (mode == DecodingMode::kSample || mode == DecodingMode::kBeamSample) {
    int min_keep = 1;
    if (mode == DecodingMode::kBeamSample)
      min_keep = o.eos_token_ids.empty() ? 2 : static_cast<int>(o.eos_token_ids.size()) + 1;
    if (o.temperature != 1.0)
      pipeline.Add(std::make_unique<TemperatureWarper>(static_cast<float>(o.temperature)));
    if (o.top_k != 0) pipeline.Add(std::make_unique<TopKWarper>(o.top_k, min_keep));
    if (o.top_p < 1.0) pipeline.Add(std::make_unique<TopPWarper>(o.top_p, min_keep));
    if (o.min_p > 0.0) pipeline.Add(std::make_unique<MinPWarper>(o.min_p, min_keep));
  }
  return pipeline;
}

}  // namespace infer::runtime
