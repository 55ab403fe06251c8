#include "server/tokenizer/post_processor.h"

#include "server/tokenizer/byte_level.h"

namespace infer::tokenizer {
namespace {

void SetTypeIds(Encoding* enc, int32_t type_id) { enc->type_ids.assign(enc->size(), type_id); }

}  // namespace

EncodingPart SpecialPart(const std::vector<int32_t>& ids, const std::vector<std::string>& tokens,
                         int32_t type_id) {
  EncodingPart p;
  p.enc.ids = ids;
  p.enc.tokens = tokens;
  p.enc.type_ids.assign(ids.size(), type_id);
  p.enc.offsets.assign(ids.size(), {0, 0});
  p.enc.special_mask.assign(ids.size(), 1);
  p.enc.sequence_ids.assign(ids.size(), -1);
  return p;
}

void BertProcessing::ProcessParts(std::vector<EncodingPart>* parts, bool add_special) const {
  if (!add_special) return;
  std::vector<EncodingPart> out;
  for (size_t i = 0; i < parts->size(); ++i) {
    if (i == 0) out.push_back(SpecialPart({cls_.second}, {cls_.first}, 0));
    out.push_back(std::move((*parts)[i]));
    out.push_back(SpecialPart({sep_.second}, {sep_.first}, i == 0 ? 0 : 1));
  }
  *parts = std::move(out);
}

void RobertaProcessing::ProcessParts(std::vector<EncodingPart>* parts, bool add_special) const {
  if (trim_offsets_) {
    for (EncodingPart& p : *parts) TrimByteLevelOffsets(&p.enc, p.text, add_prefix_space_);
  }
  for (EncodingPart& p : *parts) SetTypeIds(&p.enc, 0);  // RoBERTa has no segment embedding
  if (!add_special) return;
  std::vector<EncodingPart> out;
  for (size_t i = 0; i < parts->size(); ++i) {
    out.push_back(i == 0 ? SpecialPart({cls_.second}, {cls_.first}, 0)
                         : SpecialPart({sep_.second}, {sep_.first}, 0));
    out.push_back(std::move((*parts)[i]));
    out.push_back(SpecialPart({sep_.second}, {sep_.first}, 0));
  }
  *parts = std::move(out);
}

size_t TemplateProcessing::AddedTokens(bool pair) const {
  size_t n = 0;
  for (const Piece& p : pair ? pair_ : single_) {
    if (!p.is_sequence) n += special_.at(p.special).ids.size();
  }
  return n;
}

void TemplateProcessing::ProcessParts(std::vector<EncodingPart>* parts, bool add_special) const {
  const std::vector<Piece>& tmpl = parts->size() == 2 ? pair_ : single_;
  std::vector<EncodingPart> out;
  for (const Piece& p : tmpl) {
    if (p.is_sequence) {
      if (static_cast<size_t>(p.sequence) >= parts->size()) continue;  // checked at load
      EncodingPart part = (*parts)[static_cast<size_t>(p.sequence)];
      SetTypeIds(&part.enc, p.type_id);
      out.push_back(std::move(part));
    } else if (add_special) {
      const SpecialToken& st = special_.at(p.special);
      out.push_back(SpecialPart(st.ids, st.tokens, p.type_id));
    }
  }
  *parts = std::move(out);
}

}  // namespace infer::tokenizer
