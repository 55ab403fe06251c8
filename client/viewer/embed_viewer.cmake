# Turns the viewer page (client/viewer/explain_viewer.html) into a C++ source file, so the
# installed infer-client writes `explain --html` pages without any data file beside it.
#   cmake -DINPUT=explain_viewer.html -DOUTPUT=explain_viewer_html.cc -P embed_viewer.cmake
# The text goes into raw string literals of at most 8000 bytes each (MSVC limits one literal to
# 16 KiB; GCC and Clang have no practical limit), joined at run time. The page must be ASCII
# (client/tests/test_viewer.py checks it), so a chunk boundary never splits a character.
cmake_minimum_required(VERSION 3.25)
file(READ "${INPUT}" content)
set(delimiter "viewer_html")
string(FIND "${content}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-literal terminator )${delimiter}\"")
endif()
string(LENGTH "${content}" length)
set(out "// Generated from ${INPUT} by embed_viewer.cmake; do not edit.\n")
string(APPEND out "#include <string>\n\nnamespace infer::client::cli {\nnamespace {\n")
string(APPEND out "const char* const kChunks[] = {\n")
set(chunk_size 8000)
set(offset 0)
while(offset LESS length)
  string(SUBSTRING "${content}" ${offset} ${chunk_size} chunk)
  string(APPEND out "R\"${delimiter}(${chunk})${delimiter}\",\n")
  math(EXPR offset "${offset} + ${chunk_size}")
endwhile()
string(APPEND out "};\n}  // namespace\n\n")
string(APPEND out "// The viewer page, byte for byte.\nstd::string ExplainViewerTemplate() {\n")
string(APPEND out "  std::string page;\n  page.reserve(${length});\n")
string(APPEND out "  for (const char* chunk : kChunks) page += chunk;\n  return page;\n}\n\n")
string(APPEND out "}  // namespace infer::client::cli\n")
file(WRITE "${OUTPUT}.tmp" "${out}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
