// Model folders without tokenizer.json: vocab.json + merges.txt (byte-level BPE) or vocab.txt
// (WordPiece). transformers builds a fast tokenizer from them with its converters
// (convert_slow_tokenizer.py); we build the same pipeline, except the post-processor, which
// needs the special-token ids and is made by the loader once the added tokens are in.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/tokenizer/tokenizer_config.h"
#include "server/tokenizer/tokenizer_parts.h"

namespace infer::tokenizer {

enum class LegacyFlavor { kGpt2, kRoberta, kBert };

// GPT-2 flavour unless tokenizer_class says RoBERTa.
absl::StatusOr<std::unique_ptr<TokenizerParts>> LoadLegacyBpe(const std::string& dir,
                                                              const TokenizerConfig& config,
                                                              LegacyFlavor* flavor);
absl::StatusOr<std::unique_ptr<TokenizerParts>> LoadLegacyWordPiece(const std::string& dir,
                                                                    const TokenizerConfig& config);

}  // namespace infer::tokenizer
