// The one-definition-rule trap of per-level kernels: an inline or template
// function compiled into the AVX-512 object is a weak symbol, and if the
// baseline code uses the same function the linker keeps one copy for both,
// which can put AVX-512 instructions on the baseline path. The level objects
// (kernels/isa/kernels_isa.cpp, built once per level) must therefore define
// no external symbol but their own: their table function and Eigen's code in
// their renamed Eigen namespace (gpt_eigen_<level>). This test lists them with
// nm.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> v;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);)
    if (!item.empty()) v.push_back(item);
  return v;
}

// "T name" lines for the external symbols an object defines (demangled).
std::vector<std::string> external_symbols(const std::string& object) {
  const std::string cmd = "nm -C --defined-only --extern-only --format=posix '" + object + "'";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return {"<popen failed>"};
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p.get())) out.append(buf, n);
  return split(out, '\n');
}

TEST(isa_symbols, LevelObjectsShareNoCodeWithTheBaseline) {
  const auto objects = split(GPT_ISA_OBJECTS, '|');
  ASSERT_EQ(objects.size(), 3u) << GPT_ISA_OBJECTS;
  for (const std::string level : {"scalar", "avx2", "avx512"}) {
    std::string object;
    for (const auto& o : objects)
      if (o.find("gpt_isa_" + level + ".dir") != std::string::npos) object = o;
    ASSERT_FALSE(object.empty()) << level;
    const auto syms = external_symbols(object);
    bool has_table = false;
    for (const auto& line : syms) {
      // posix format: "name type value size"; the name may contain spaces.
      if (line.find("gpt::kernels::isa::" + level + "_table()") == 0) {
        has_table = true;
        continue;
      }
      if (line.find("gpt_eigen_" + level + "::") != std::string::npos) continue;  // renamed Eigen
      if (line.rfind("DW.ref.__gxx_personality_v0", 0) == 0) continue;           // data: a pointer
      // Data, not code: run-time type information for function types, which
      // clang's -fsanitize=function emits.
      if (line.rfind("typeinfo for ", 0) == 0 || line.rfind("typeinfo name for ", 0) == 0) continue;
      ADD_FAILURE() << level << " object defines a shared symbol: " << line;
    }
    EXPECT_TRUE(has_table) << level << ": " << object;
  }
}

}  // namespace
