// `infer-client explain`: the ExplainAttention stream, summarised on the terminal (one line per
// block) and, with --out, saved as one JSON document that keeps every streamed message in order:
//
//   {"format": "infer.v1.explain/1",
//    "messages": [{"header": {...}}, {"attention": {...}}, ..., {"footer": {...}}]}
//
// each message in protobuf's JSON mapping (field names as in the .proto, enums by name, bytes in
// base64, 64-bit integers as strings, fields at their default value left out). --html writes the
// explanation viewer (client/viewer/explain_viewer.html, compiled in) with that document
// embedded; --html-from-json does the same for a saved document without calling a server.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "client/cli/command.h"
#include "client/cli/output.h"

namespace infer::client::cli {

// The viewer page, generated from client/viewer/explain_viewer.html (client/CMakeLists.txt).
std::string ExplainViewerTemplate();

namespace {

constexpr char kFormat[] = "infer.v1.explain/1";
// The element the document goes into; the page reads it when it is not empty.
constexpr char kDataOpen[] = "<script type=\"application/json\" id=\"explain-data\">";

// ---- request -----------------------------------------------------------------------------

std::optional<uint32_t> Uint32(const ParsedArgs& args, const std::string& name) {
  auto value = args.Uint(name);
  if (!value) return std::nullopt;
  if (*value > std::numeric_limits<uint32_t>::max()) {
    throw UsageError("--" + name + ": " + std::to_string(*value) + " is too large");
  }
  return static_cast<uint32_t>(*value);
}

v1::ExplainMethod ParseMethod(const std::string& name) {
  static const std::pair<const char*, v1::ExplainMethod> kMethods[] = {
      {"attention", v1::EXPLAIN_METHOD_ATTENTION},  {"neuron", v1::EXPLAIN_METHOD_NEURON_VIEW},
      {"rollout", v1::EXPLAIN_METHOD_ROLLOUT},      {"norm", v1::EXPLAIN_METHOD_NORM_WEIGHTED},
      {"lens", v1::EXPLAIN_METHOD_LOGIT_LENS},      {"occlusion", v1::EXPLAIN_METHOD_OCCLUSION},
      {"lime", v1::EXPLAIN_METHOD_LIME},            {"projection", v1::EXPLAIN_METHOD_PROJECTION},
  };
  for (const auto& [word, method] : kMethods) {
    if (name == word) return method;
  }
  throw UsageError("--methods: unknown method '" + name +
                   "' (attention, neuron, rollout, norm, lens, occlusion, lime, projection)");
}

template <typename Enum, size_t N>
Enum ParseChoice(const std::string& flag, const std::string& value,
                 const std::pair<const char*, Enum> (&choices)[N]) {
  std::string names;
  for (const auto& [word, choice] : choices) {
    if (value == word) return choice;
    names += names.empty() ? word : std::string("|") + word;
  }
  throw UsageError("--" + flag + ": expected " + names + ", got '" + value + "'");
}

v1::ExplainAttentionRequest BuildRequest(const ParsedArgs& args) {
  v1::ExplainAttentionRequest request;
  ApplyRequestJson(args, &request);
  const auto& text = args.positionals();
  if (text.size() > 1) throw UsageError("explain takes one TEXT (quote it)");
  if (text.size() == 1) request.set_text(text[0]);
  if (auto v = args.String("token-ids")) {
    if (!text.empty()) throw UsageError("give TEXT or --token-ids, not both");
    for (int32_t id : ParseIdList(*v, "token-ids")) request.add_token_ids(id);
  }
  if (request.text().empty() && request.token_ids_size() == 0) {
    throw UsageError("explain needs a TEXT or --token-ids");
  }
  if (auto v = args.String("pair")) request.set_text_pair(*v);
  if (auto v = args.String("model")) request.set_model(*v);
  if (auto v = args.String("methods")) {
    request.clear_methods();
    for (const auto& name : SplitList(*v)) request.add_methods(ParseMethod(name));
  }
  if (auto v = args.String("layers")) {
    request.clear_layers();
    for (uint32_t layer : ParseIndexList(*v, "layers")) request.add_layers(layer);
  }
  if (auto v = args.String("heads")) {
    request.clear_heads();
    for (uint32_t head : ParseIndexList(*v, "heads")) request.add_heads(head);
  }
  if (auto v = args.String("query-rows")) {
    request.clear_query_rows();
    for (uint32_t row : ParseIndexList(*v, "query-rows")) request.add_query_rows(row);
  }
  if (auto v = Uint32(args, "top-k-keys")) request.set_top_k_keys(*v);
  if (auto v = args.Bool("float16")) {
    request.set_dtype(*v ? v1::EXPLAIN_DTYPE_FLOAT16 : v1::EXPLAIN_DTYPE_FLOAT32);
  }
  if (auto v = Uint32(args, "generate")) request.set_generate_tokens(*v);

  auto* target = request.mutable_target();
  if (auto v = args.String("continuation")) {
    target->set_continuation(*v);
    target->set_kind(v1::EXPLAIN_TARGET_CONTINUATION);
  }
  if (auto v = args.String("label")) {
    target->set_label(*v);
    target->set_kind(v1::EXPLAIN_TARGET_CLASS_LABEL);
  }
  if (auto v = args.String("target-kind")) {
    static const std::pair<const char*, v1::ExplainTargetKind> kKinds[] = {
        {"next", v1::EXPLAIN_TARGET_NEXT_TOKEN},
        {"continuation", v1::EXPLAIN_TARGET_CONTINUATION},
        {"generated", v1::EXPLAIN_TARGET_GENERATED},
        {"label", v1::EXPLAIN_TARGET_CLASS_LABEL},
    };
    target->set_kind(ParseChoice("target-kind", *v, kKinds));
  }

  auto* budget = request.mutable_budget();
  if (auto v = args.Uint("max-bytes")) budget->set_max_bytes(*v);
  if (auto v = Uint32(args, "max-forward-passes")) budget->set_max_forward_passes(*v);
  if (auto v = args.Bool("allow-truncation")) budget->set_allow_truncation(*v);

  if (auto v = Uint32(args, "lens-top-k")) request.mutable_logit_lens()->set_top_k(*v);

  auto* attribution = request.mutable_attribution();
  if (auto v = args.String("granularity")) {
    static const std::pair<const char*, v1::ExplainGranularity> kGranularities[] = {
        {"token", v1::EXPLAIN_GRANULARITY_TOKEN},
        {"word", v1::EXPLAIN_GRANULARITY_WORD},
        {"segment", v1::EXPLAIN_GRANULARITY_SEGMENT},
    };
    attribution->set_granularity(ParseChoice("granularity", *v, kGranularities));
  }
  if (auto v = Uint32(args, "samples")) attribution->set_samples(*v);
  if (auto v = args.Uint("seed")) attribution->set_seed(*v);
  if (auto v = args.Int("baseline-token-id")) {
    if (*v < std::numeric_limits<int32_t>::min() || *v > std::numeric_limits<int32_t>::max()) {
      throw UsageError("--baseline-token-id: out of range");
    }
    attribution->set_baseline_token_id(static_cast<int32_t>(*v));
  }

  auto* projection = request.mutable_projection();
  if (args.Has("project-text")) {
    projection->clear_texts();
    for (const auto& text : args.All("project-text")) projection->add_texts(text);
  }
  if (auto v = Uint32(args, "project-layer")) projection->set_layer(*v);
  if (auto v = Uint32(args, "project-dims")) projection->set_dims(*v);
  if (auto v = args.String("pooling")) {
    static const std::pair<const char*, v1::ExplainPooling> kPoolings[] = {
        {"mean", v1::EXPLAIN_POOLING_MEAN},
        {"first", v1::EXPLAIN_POOLING_FIRST},
        {"last", v1::EXPLAIN_POOLING_LAST},
    };
    projection->set_pooling(ParseChoice("pooling", *v, kPoolings));
  }
  return request;
}

// ---- terminal summary: one line per block ------------------------------------------------

std::string TokenText(const v1::ExplainHeader& header, int64_t index) {
  if (index >= 0 && index < header.tokens_size()) return header.tokens(index).text();
  std::string fallback = "#";  // += rather than "#" + ...: GCC 12 -Wrestrict false positive
  fallback += std::to_string(index);
  return fallback;
}

float HalfToFloat(uint16_t half) {
  const uint32_t exponent = (half >> 10) & 0x1f, mantissa = half & 0x3ff;
  float value;
  if (exponent == 0) {
    value = std::ldexp(static_cast<float>(mantissa), -24);  // subnormal
  } else if (exponent == 31) {
    value = mantissa != 0 ? std::numeric_limits<float>::quiet_NaN()
                          : std::numeric_limits<float>::infinity();
  } else {
    value = std::ldexp(static_cast<float>(mantissa | 0x400), static_cast<int>(exponent) - 25);
  }
  return (half & 0x8000) != 0 ? -value : value;
}

// The float32 values, or the float16 ones decoded.
std::vector<float> Floats(const google::protobuf::RepeatedField<float>& values,
                          const std::string& halves) {
  if (halves.empty()) return {values.begin(), values.end()};
  std::vector<float> out(halves.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const auto lo = static_cast<uint8_t>(halves[2 * i]), hi = static_cast<uint8_t>(halves[2 * i + 1]);
    out[i] = HalfToFloat(static_cast<uint16_t>(lo | (hi << 8)));
  }
  return out;
}

// Which key the last sent query row attends to most, averaged over the block's heads: one line
// per block that says something without printing tokens^2 numbers.
void PrintAttentionSummary(const v1::ExplainHeader& header, const v1::AttentionBlock& block) {
  const uint32_t heads = block.heads_size();
  switch (block.kind()) {
    case v1::ATTENTION_MAP_NORM_WEIGHTED: std::cout << "norm "; break;
    case v1::ATTENTION_MAP_NORM_WEIGHTED_SUM: std::cout << "norm-sum "; break;
    case v1::ATTENTION_MAP_ROLLOUT: std::cout << "rollout "; break;
    default: break;
  }
  std::cout << "layer " << block.layer();
  if (heads > 0) std::cout << " (" << heads << " heads)";
  const std::vector<float> values = Floats(block.values(), block.values_f16());
  const uint64_t maps = std::max<uint32_t>(1, heads);
  const uint64_t rows = block.query_rows_size() > 0 ? block.query_rows_size() : block.query_tokens();
  const uint64_t cols = block.top_k() > 0 ? block.top_k() : block.key_tokens();
  const bool sparse = block.top_k() > 0;
  if (rows == 0 || cols == 0 || values.size() != maps * rows * cols ||
      (sparse && static_cast<uint64_t>(block.key_indices_size()) != values.size())) {
    std::cout << ": " << values.size() << " values\n";
    return;
  }
  const uint64_t row = rows - 1;
  const int64_t query = block.query_rows_size() > 0 ? block.query_rows(row) : row;
  std::vector<double> mean(block.key_tokens(), 0.0);
  for (uint64_t m = 0; m < maps; ++m) {
    for (uint64_t c = 0; c < cols; ++c) {
      const uint64_t at = (m * rows + row) * cols + c;
      const uint64_t key = sparse ? block.key_indices(at) : c;
      if (key < mean.size()) mean[key] += values[at] / maps;
    }
  }
  size_t best = 0;
  for (size_t k = 1; k < mean.size(); ++k) {
    if (mean[k] > mean[best]) best = k;
  }
  std::cout << ": \"" << TokenText(header, query) << "\" attends most to \""
            << TokenText(header, best) << "\" (#" << best << ", " << (heads > 1 ? "mean " : "")
            << Fixed(mean.empty() ? 0 : mean[best], 3) << ")\n";
}

void PrintQueryKeySummary(const v1::QueryKeyBlock& block) {
  std::cout << "neuron layer " << block.layer() << " (" << block.heads_size()
            << " heads): " << block.tokens() << " tokens x " << block.head_dim()
            << " dims of q and k, scale " << Fixed(block.scale(), 4) << "\n";
}

void PrintLensSummary(const v1::ExplainHeader& header, const v1::LogitLensBlock& block) {
  std::cout << "lens layer " << block.layer();
  if (block.positions_size() == 0) {
    std::cout << ": no positions\n";
    return;
  }
  const auto& last = block.positions(block.positions_size() - 1);
  std::cout << " (" << block.positions_size() << " positions): after \""
            << TokenText(header, last.position()) << "\" (#" << last.position() << ")";
  if (last.top_size() > 0) {
    std::cout << " top \"" << last.top(0).text() << "\" " << Fixed(last.top(0).probability(), 3);
  }
  if (last.target_id() >= 0 && last.target_rank() > 0) {
    std::cout << ", target rank " << last.target_rank() << " p "
              << Fixed(last.target_probability(), 3);
  }
  std::cout << ", entropy " << Fixed(last.entropy(), 2) << "\n";
}

void PrintAttributionSummary(const v1::AttributionBlock& block) {
  std::string method = v1::ExplainMethod_Name(block.method());
  std::string granularity = v1::ExplainGranularity_Name(block.granularity());
  auto lower_suffix = [](std::string name, const std::string& prefix) {
    if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
  };
  std::cout << lower_suffix(method, "EXPLAIN_METHOD_") << " ("
            << lower_suffix(granularity, "EXPLAIN_GRANULARITY_") << ", "
            << block.feature_attribution_size() << " features): base_score "
            << Fixed(block.base_score(), 4) << " baseline_score " << Fixed(block.baseline_score(), 4);
  if (block.feature_attribution_size() > 0) {
    int best = 0;
    for (int i = 1; i < block.feature_attribution_size(); ++i) {
      if (std::abs(block.feature_attribution(i)) > std::abs(block.feature_attribution(best))) {
        best = i;
      }
    }
    const std::string text = best < block.feature_text_size() ? block.feature_text(best) : "";
    std::cout << ", strongest \"" << text << "\" " << (block.feature_attribution(best) >= 0 ? "+" : "")
              << Fixed(block.feature_attribution(best), 4);
  }
  if (block.method() == v1::EXPLAIN_METHOD_LIME) std::cout << ", fit_r2 " << Fixed(block.fit_r2(), 3);
  std::cout << " (" << block.evaluations() << " evaluations)\n";
}

void PrintProjectionSummary(const v1::ProjectionBlock& block) {
  std::cout << "projection layer " << block.layer() << " (" << block.dims() << "-D, "
            << block.texts_size() << " texts): explained variance";
  for (float ratio : block.explained_variance_ratio()) std::cout << " " << Fixed(ratio, 3);
  std::cout << "\n";
}

void PrintHeader(const v1::ExplainHeader& header) {
  std::cout << "model=" << header.model() << " family=" << header.family()
            << (header.causal() ? " causal" : " encoder") << " layers=" << header.layers()
            << " heads=" << header.heads() << "\ntokens:";
  for (const auto& token : header.tokens()) std::cout << " \"" << token.text() << "\"";
  std::cout << "\n";
  if (!header.generated_text().empty()) {
    std::cout << "generated: \"" << header.generated_text() << "\"\n";
  }
  if (header.targets_size() > 0) {
    std::cout << "targets (" << v1::ExplainTargetKind_Name(header.target_kind()) << "):";
    for (const auto& target : header.targets()) {
      std::cout << " \"" << target.text() << "\"@" << target.position();
    }
    std::cout << "\n";
  }
}

void PrintFooter(const v1::ExplainFooter& footer) {
  std::cout << "forward_passes=" << footer.forward_passes()
            << " engine_calls=" << footer.engine_calls() << " bytes_sent=" << footer.bytes_sent()
            << " wall_ms=" << Fixed(footer.wall_ms(), 1);
  if (footer.truncated()) std::cout << " truncated";
  if (footer.omitted_size() > 0) {
    std::cout << " omitted:";
    for (const auto& what : footer.omitted()) std::cout << " [" << what << "]";
  }
  std::cout << "\n";
}

void PrintSummary(const v1::ExplainAttentionResponse& message, v1::ExplainHeader* header) {
  using R = v1::ExplainAttentionResponse;
  switch (message.payload_case()) {
    case R::kHeader:
      *header = message.header();
      PrintHeader(*header);
      break;
    case R::kAttention: PrintAttentionSummary(*header, message.attention()); break;
    case R::kQueryKey: PrintQueryKeySummary(message.query_key()); break;
    case R::kLogitLens: PrintLensSummary(*header, message.logit_lens()); break;
    case R::kAttribution: PrintAttributionSummary(message.attribution()); break;
    case R::kProjection: PrintProjectionSummary(message.projection()); break;
    case R::kFooter: PrintFooter(message.footer()); break;
    default: break;  // a payload added by a newer server: kept in the files, not summarised
  }
}

// ---- files: the JSON document and the viewer page ----------------------------------------

// JSON text that is safe inside <script>: "<" only occurs inside JSON strings, where \u003c
// means the same, so no "</script>" or "<!--" can end or bend the element.
std::string EscapeForScript(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (char c : json) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  return out;
}

// The page around the data: everything up to and including the data element's start tag, and
// the rest (from its end tag on).
bool SplitTemplate(std::string* before, std::string* after, std::string* error) {
  const std::string page = ExplainViewerTemplate();
  const size_t at = page.find(kDataOpen);
  if (at == std::string::npos || page.find(kDataOpen, at + 1) != std::string::npos) {
    *error = "the compiled-in viewer page has no single explain-data element";
    return false;
  }
  const size_t split = at + std::strlen(kDataOpen);
  *before = page.substr(0, split);
  *after = page.substr(split);
  return true;
}

// The --out document and the --html page, written as the messages arrive (a long reply is never
// held whole in memory).
class ReplyFiles {
 public:
  bool Open(const std::optional<std::string>& json_path,
            const std::optional<std::string>& html_path, std::string* error) {
    if (html_path && !SplitTemplate(&page_before_, &page_after_, error)) return false;
    if (json_path && !OpenOne(*json_path, &json_, error)) return false;
    if (html_path && !OpenOne(*html_path, &html_, error)) return false;
    json_path_ = json_path;
    html_path_ = html_path;
    Write(std::string("{\"format\":\"") + kFormat + "\",\"messages\":[", page_before_);
    return true;
  }

  void Add(const std::string& message_json) {
    const std::string separator = first_ ? "\n" : ",\n";
    first_ = false;
    Write(separator + message_json, "");
  }

  // Ends both documents; false (with the reason) when a write failed.
  bool Finish(std::string* error) {
    Write("\n]}\n", "");
    if (html_.is_open()) html_ << page_after_;
    for (auto* file : {&json_, &html_}) {
      if (!file->is_open()) continue;
      file->close();
      if (file->fail()) {
        *error = "cannot write " + *(file == &json_ ? json_path_ : html_path_);
        return false;
      }
    }
    return true;
  }

  // After a failed call: no half-written file is left behind.
  void Discard() {
    for (auto* file : {&json_, &html_}) {
      if (file->is_open()) file->close();
    }
    if (json_path_) std::remove(json_path_->c_str());
    if (html_path_) std::remove(html_path_->c_str());
  }

  void Report() const {
    if (json_path_) std::cerr << "wrote " << *json_path_ << std::endl;
    if (html_path_) std::cerr << "wrote " << *html_path_ << std::endl;
  }

 private:
  static bool OpenOne(const std::string& path, std::ofstream* file, std::string* error) {
    file->open(path, std::ios::binary | std::ios::trunc);
    if (!file->is_open()) *error = "cannot write " + path;
    return file->is_open();
  }

  // `text` goes to the JSON file as is and to the page escaped, after `page_prefix`.
  void Write(const std::string& text, const std::string& page_prefix) {
    if (json_.is_open()) json_ << text;
    if (html_.is_open()) html_ << page_prefix << EscapeForScript(text);
  }

  std::ofstream json_, html_;
  std::optional<std::string> json_path_, html_path_;
  std::string page_before_, page_after_;
  bool first_ = true;
};

// --html-from-json: a saved document (or the JSON lines of `infer-client --json explain`) to a
// page, offline.
int WriteHtmlFromJson(const std::string& json_path, const std::optional<std::string>& html_path) {
  if (!html_path) throw UsageError("--html-from-json needs --html FILE");
  std::ifstream in(json_path, std::ios::binary);
  if (!in) {
    std::cerr << "error: cannot read " << json_path << std::endl;
    return 1;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  nlohmann::ordered_json document;
  try {
    document = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error&) {
    // Not one document: one message per line, as --json prints the stream.
    auto messages = nlohmann::ordered_json::array();
    std::istringstream lines(text);
    std::string line;
    for (int number = 1; std::getline(lines, line); ++number) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      try {
        messages.push_back(nlohmann::ordered_json::parse(line));
      } catch (const nlohmann::json::parse_error& error) {
        std::cerr << "error: " << json_path << " is neither one JSON document nor JSON lines (line "
                  << number << ": " << error.what() << ")" << std::endl;
        return 1;
      }
    }
    document = {{"format", kFormat}, {"messages", std::move(messages)}};
  }
  if (!document.is_object() && !document.is_array()) {
    std::cerr << "error: " << json_path << " holds no explain reply" << std::endl;
    return 1;
  }
  std::string before, after, error;
  if (!SplitTemplate(&before, &after, &error)) {
    std::cerr << "error: " << error << std::endl;
    return 1;
  }
  std::ofstream out(*html_path, std::ios::binary | std::ios::trunc);
  out << before << EscapeForScript(document.dump()) << after;
  out.close();
  if (out.fail()) {
    std::cerr << "error: cannot write " << *html_path << std::endl;
    return 1;
  }
  std::cerr << "wrote " << *html_path << std::endl;
  return 0;
}

int RunExplain(const Context& context, const ParsedArgs& args) {
  const auto out_path = args.String("out");
  const auto html_path = args.String("html");
  if (auto from = args.String("html-from-json")) {
    if (out_path || !args.positionals().empty() || args.Has("token-ids")) {
      throw UsageError("--html-from-json converts a saved reply; it takes no TEXT or --out");
    }
    return WriteHtmlFromJson(*from, html_path);
  }
  const v1::ExplainAttentionRequest request = BuildRequest(args);

  ReplyFiles files;
  std::string error;
  if (!files.Open(out_path, html_path, &error)) {
    std::cerr << "error: " << error << std::endl;
    return 1;
  }
  v1::ExplainHeader header;
  auto on_response = [&](const v1::ExplainAttentionResponse& message) {
    if (out_path || html_path) files.Add(ToJson(message));
    if (context.json) {
      PrintJsonLine(message);
    } else {
      PrintSummary(message, &header);
    }
    return true;
  };

  const grpc::Status status = context.client->ExplainAttention(request, on_response);
  std::cout << std::flush;
  if (!status.ok()) {
    files.Discard();
    return ReportRpcError(status);
  }
  if (!files.Finish(&error)) {
    std::cerr << "error: " << error << std::endl;
    return 1;
  }
  files.Report();
  return 0;
}

}  // namespace

Command ExplainCommand() {
  return {"explain",
          "explain [flags] TEXT",
          "what the model attended to and why (one line per block); --out saves the reply as "
          "JSON, --html as a viewer page",
          {
              {"model", "NAME", "model (default: the server's first ExplainAttention model)"},
              {"pair", "TEXT", "second segment (encoders)"},
              {"token-ids", "IDS", "comma-separated token ids instead of TEXT"},
              {"methods", "LIST",
               "attention,neuron,rollout,norm,lens,occlusion,lime,projection (default: "
               "attention)"},
              {"layers", "LIST", "layers to send, e.g. 0,2-4 (default: all)"},
              {"heads", "LIST", "heads to send, e.g. 0-3 (default: all)"},
              {"query-rows", "LIST", "query positions of the attention maps (default: all)"},
              {"top-k-keys", "K", "keep the K largest keys per query row (default: all)"},
              {"float16", "", "send maps and vectors as float16 (half the bytes)"},
              {"generate", "N", "causal LMs: generate N tokens greedily first, explain them too"},
              {"target-kind", "KIND", "next|continuation|generated|label (default: the model's)"},
              {"continuation", "TEXT", "target: this text appended and scored (teacher-forced)"},
              {"label", "NAME", "target: this classification label (name or index)"},
              {"max-bytes", "N", "budget: most payload bytes (default: the server's limit)"},
              {"max-forward-passes", "N", "budget: most model evaluations"},
              {"allow-truncation", "", "over --max-bytes, send what fits instead of failing"},
              {"lens-top-k", "K", "logit lens candidates per layer and position (default 5)"},
              {"granularity", "G", "occlusion/LIME features: token|word|segment"},
              {"samples", "N", "LIME perturbed copies (default 64)"},
              {"seed", "N", "LIME random seed"},
              {"baseline-token-id", "ID", "the token a removed feature is replaced by"},
              {"project-text", "TEXT", "projection: another text to place beside the input",
               /*repeatable=*/true},
              {"project-layer", "N", "projection: hidden state 0 (embeddings) .. layers"},
              {"project-dims", "N", "projection: 2 or 3 components"},
              {"pooling", "P", "projection: mean|first|last"},
              {"out", "FILE", "write the reply as one JSON document {format, messages}"},
              {"html", "FILE", "write the viewer page with the reply in it (opens offline)"},
              {"html-from-json", "FILE", "no call: turn a saved --out FILE into the --html page"},
              kRequestJsonFlag,
          },
          &RunExplain};
}

}  // namespace infer::client::cli
