// infer-client's argument parsing: the forms it accepts and the mistakes it must refuse.
#include "client/cli/args.h"

#include <gtest/gtest.h>

namespace infer::client::cli {
namespace {

const std::vector<FlagSpec> kSpecs = {
    {"model", "NAME", ""},
    {"stop", "TEXT", "", true},
    {"do-sample", "", ""},
    {"top-p", "P", ""},
    {"max-new-tokens", "N", ""},
};

TEST(CliArgs, ValuesSwitchesAndPositionals) {
  auto args = ParsedArgs::Parse(
      {"hello world", "--model", "gpt2", "--do-sample", "--top-p=0.9", "--stop", "a", "--stop=b"},
      kSpecs);
  EXPECT_EQ(args.positionals(), std::vector<std::string>{"hello world"});
  EXPECT_EQ(args.String("model"), "gpt2");
  EXPECT_EQ(args.Bool("do-sample"), true);
  EXPECT_DOUBLE_EQ(*args.Double("top-p"), 0.9);
  EXPECT_EQ(args.All("stop"), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(args.Int("max-new-tokens").has_value());
}

TEST(CliArgs, SwitchCanBeTurnedOff) {
  EXPECT_EQ(ParsedArgs::Parse({"--do-sample=false"}, kSpecs).Bool("do-sample"), false);
}

TEST(CliArgs, DoubleDashEndsFlags) {
  auto args = ParsedArgs::Parse({"--", "--model"}, kSpecs);
  EXPECT_EQ(args.positionals(), std::vector<std::string>{"--model"});
  EXPECT_FALSE(args.Has("model"));
}

TEST(CliArgs, SingleDashTextIsPositional) {
  auto args = ParsedArgs::Parse({"-3 degrees"}, kSpecs);
  EXPECT_EQ(args.positionals(), std::vector<std::string>{"-3 degrees"});
}

TEST(CliArgs, RefusesMistakes) {
  EXPECT_THROW(ParsedArgs::Parse({"--modle", "x"}, kSpecs), UsageError);
  EXPECT_THROW(ParsedArgs::Parse({"--model"}, kSpecs), UsageError);
  EXPECT_THROW(ParsedArgs::Parse({"--model", "a", "--model", "b"}, kSpecs), UsageError);
  EXPECT_THROW(ParsedArgs::Parse({"--max-new-tokens", "ten"}, kSpecs).Int("max-new-tokens"),
               UsageError);
  EXPECT_THROW(ParsedArgs::Parse({"--max-new-tokens", "5x"}, kSpecs).Int("max-new-tokens"),
               UsageError);
  EXPECT_THROW(ParsedArgs::Parse({"--do-sample=maybe"}, kSpecs).Bool("do-sample"), UsageError);
}

TEST(CliArgs, Lists) {
  EXPECT_EQ(SplitList("a,,b,"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ParseIndexList("0,2-4", "layers"), (std::vector<uint32_t>{0, 2, 3, 4}));
  EXPECT_EQ(ParseIdList("50256,-1", "ids"), (std::vector<int32_t>{50256, -1}));
  EXPECT_THROW(ParseIndexList("4-2", "layers"), UsageError);
  EXPECT_THROW(ParseIndexList("x", "layers"), UsageError);
}

}  // namespace
}  // namespace infer::client::cli
