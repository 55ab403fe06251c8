#include "server/runtime/stop_strings.h"

#include <algorithm>

namespace infer::runtime {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stop_strings, Detokenizer detokenize)
    : stops_(std::move(stop_strings)), detokenize_(std::move(detokenize)) {
  for (const std::string& s : stops_) window_tokens_ = std::max(window_tokens_, s.size() + 1);
}

std::optional<StopMatch> StopStringMatcher::Check(std::span<const int32_t> generated) const {
  if (stops_.empty() || generated.empty() || !detokenize_) return std::nullopt;
  const size_t window = std::min(generated.size(), window_tokens_);
  const std::string tail = detokenize_(generated.subspan(generated.size() - window));
  bool any = false;
  for (const std::string& stop : stops_) any = any || tail.find(stop) != std::string::npos;
  if (!any) return std::nullopt;
  // Report the stop string that occurs first in the whole generated text.
  const std::string full = window == generated.size() ? tail : detokenize_(generated);
  std::optional<StopMatch> best;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t pos = full.find(stops_[i]);
    if (pos == std::string::npos) continue;
    if (!best || pos < best->offset) best = StopMatch{static_cast<int>(i), pos};
  }
  if (!best) best = StopMatch{0, full.size()};  // decoding the window and the whole text disagreed
  return best;
}

}  // namespace infer::runtime
