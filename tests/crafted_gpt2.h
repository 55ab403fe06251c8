// A GPT-2 folder whose next-token prediction is decided by one known token, for attribution
// tests ("rank the deciding token first on a constructed case"). One layer, one head; queries and
// keys are zero, so attention is uniform over the prefix; values and the output projection pass
// the normalised embeddings on; the MLP is zero. Only the deciding token's embedding has a
// component along dimension 0, and only the target's LM-head row reads dimension 0: with the
// deciding token anywhere in the input the target is likely, without it it is not. The tokenizer
// files are copied from another GPT-2 folder with the same vocabulary size.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace infer::testing {

struct CraftedGpt2 {
  int vocab = 2000;
  int embd = 16;
  int positions = 128;
  int32_t deciding = 100;  // the token that decides
  int32_t target = 200;    // the token it makes likely
};

namespace crafted_detail {

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Deterministic values in [-a, a] (no std:: distributions: the same on every platform).
inline float Noise(uint64_t& state, float a) {
  state = state * 6364136223846793005ull + 1442695040888963407ull;
  return a * (static_cast<float>((state >> 40) & 0xFFFFFF) / 8388607.5f - 1.0f);
}

inline void WriteSafetensors(const std::string& path, const std::vector<Tensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  size_t offset = 0;
  for (const Tensor& t : tensors) {
    const size_t bytes = t.data.size() * sizeof(float);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h += ' ';
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = h.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  for (const Tensor& t : tensors) {
    out.write(reinterpret_cast<const char*>(t.data.data()),
              static_cast<std::streamsize>(t.data.size() * sizeof(float)));
  }
}

}  // namespace crafted_detail

// Writes the folder at `dir` (created), tokenizer files copied from `tokenizer_folder`.
inline void WriteCraftedGpt2(const std::string& dir, const std::string& tokenizer_folder,
                             const CraftedGpt2& c = {}) {
  namespace fs = std::filesystem;
  using crafted_detail::Tensor;
  fs::create_directories(dir);
  for (const char* f : {"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
                        "special_tokens_map.json"}) {
    const fs::path src = fs::path(tokenizer_folder) / f;
    if (fs::exists(src)) fs::copy_file(src, fs::path(dir) / f, fs::copy_options::overwrite_existing);
  }
  nlohmann::json config = {{"architectures", {"GPT2LMHeadModel"}},
                           {"model_type", "gpt2"},
                           {"activation_function", "gelu_new"},
                           {"n_embd", c.embd},
                           {"n_head", 1},
                           {"n_layer", 1},
                           {"n_inner", c.embd},
                           {"n_positions", c.positions},
                           {"vocab_size", c.vocab},
                           {"layer_norm_epsilon", 1e-5},
                           {"tie_word_embeddings", false}};
  std::ofstream(fs::path(dir) / "config.json") << config.dump(2);

  const int64_t V = c.vocab, E = c.embd;
  uint64_t state = 42;
  auto zeros = [](std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return std::vector<float>(static_cast<size_t>(n), 0.0f);
  };
  std::vector<float> wte = zeros({V, E}), head = zeros({V, E});
  for (int64_t v = 0; v < V; ++v) {
    for (int64_t e = 1; e < E; ++e) {  // dimension 0 stays empty ...
      wte[v * E + e] = crafted_detail::Noise(state, 0.2f);
      head[v * E + e] = crafted_detail::Noise(state, 0.2f);
    }
  }
  wte[c.deciding * E + 0] = 4.0f;  // ... except for the deciding token
  for (int64_t e = 0; e < E; ++e) head[c.target * E + e] = 0.0f;
  head[c.target * E + 0] = 8.0f;   // and the target reads only it
  std::vector<float> ones(static_cast<size_t>(E), 1.0f);
  std::vector<float> c_attn = zeros({E, 3 * E});
  for (int64_t i = 0; i < E; ++i) c_attn[i * 3 * E + 2 * E + i] = 1.0f;  // v = x
  std::vector<float> c_proj = zeros({E, E});
  for (int64_t i = 0; i < E; ++i) c_proj[i * E + i] = 2.0f;
  const std::string p = "transformer.h.0.";
  std::vector<Tensor> t = {
      {"transformer.wte.weight", {V, E}, wte},
      {"transformer.wpe.weight", {c.positions, E}, zeros({c.positions, E})},
      {"transformer.ln_f.weight", {E}, ones},
      {"transformer.ln_f.bias", {E}, zeros({E})},
      {"lm_head.weight", {V, E}, head},
      {p + "ln_1.weight", {E}, ones},
      {p + "ln_1.bias", {E}, zeros({E})},
      {p + "attn.c_attn.weight", {E, 3 * E}, c_attn},
      {p + "attn.c_attn.bias", {3 * E}, zeros({3 * E})},
      {p + "attn.c_proj.weight", {E, E}, c_proj},
      {p + "attn.c_proj.bias", {E}, zeros({E})},
      {p + "ln_2.weight", {E}, ones},
      {p + "ln_2.bias", {E}, zeros({E})},
      {p + "mlp.c_fc.weight", {E, E}, zeros({E, E})},
      {p + "mlp.c_fc.bias", {E}, zeros({E})},
      {p + "mlp.c_proj.weight", {E, E}, zeros({E, E})},
      {p + "mlp.c_proj.bias", {E}, zeros({E})},
  };
  crafted_detail::WriteSafetensors((fs::path(dir) / "model.safetensors").string(), t);
}

}  // namespace infer::testing
