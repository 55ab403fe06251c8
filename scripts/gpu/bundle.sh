#!/usr/bin/env bash
# Builds what a lent GPU machine needs and packs it into .gpu/ at the repository root, so that one
# `run` call (carry [".gpu"]) can test and benchmark the CUDA backend there without our Debian
# packages. Runs HERE (the build machine: nvcc, no GPU). See scripts/gpu/README.md.
#
#   bash scripts/gpu/bundle.sh            # configure + build build-gpu, assemble .gpu/
#
# What it does:
#   1. configures BUILD (build-gpu; Release, INFER_CUDA=ON, INFER_CUDA_ARCHITECTURES=90, Ninja)
#      with a CMake file-API query, and reads the executable targets from the reply: every
#      cuda_*_test (golden CUDA variants included), infer-server, infer-client, load_generator,
#      every target built from benchmarks/cuda/*, and any whose name matches $EXTRA;
#   2. builds them in one keep-going build (-j$JOBS) and asks ninja which are up to date: a target
#      that failed (or depends on one that failed) is reported and left out, never bundled stale;
#   3. .gpu/bin: stripped copies; .gpu/lib: every shared library they load (ldd) except glibc,
#      libstdc++, libgcc_s and the CUDA driver/runtime/cuBLAS (run.sh takes those from the GPU
#      machine); .gpu/lib-fallback: our libstdc++ / libgcc_s, used there only if its own are too
#      old; .gpu/models: the all-MiniLM-L6-v2 tokenizer files (the weights are ignored by git and
#      too big to carry); .gpu/MANIFEST.md: targets, sizes, glibc needs, travelling size;
#   4. packs bin/lib into .gpu/payload.tar.xz when the plain folder is over budget (PACK=auto);
#      fails if .gpu is still over BUDGET_MIB, and reports the whole size that would travel.
#
# Environment: BUILD (build-gpu), JOBS (2), ARCH (90), BUDGET_MIB (56), PACK (auto|always|never),
# EXTRA (a regex of more target names, e.g. '_integration_test$'), SKIP_BUILD=1 (bundle what is
# built), GPU_DIR (.gpu).
# Exit status: 0 all targets bundled; 3 some targets failed to build (the rest is bundled, the
# manifest and the output name the failures); 1 any other failure (over budget, no targets).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)

BUILD=${BUILD:-build-gpu}
JOBS=${JOBS:-2}
ARCH=${ARCH:-90}
BUDGET_MIB=${BUDGET_MIB:-56}
PACK=${PACK:-auto}
EXTRA=${EXTRA:-}
SKIP_BUILD=${SKIP_BUILD:-0}
GPU_DIR=${GPU_DIR:-.gpu}
TREE_LIMIT_MIB=64

say() { echo "== $*" >&2; }
die() { echo "bundle.sh: ERROR: $*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 is needed (to read the CMake file-API reply)"
command -v ninja >/dev/null || die "ninja is needed (apt-get install ninja-build)"

[[ $GPU_DIR != */* ]] || die "GPU_DIR must be a folder name at the repository root, got $GPU_DIR"
# Keep the bundle out of git (and out of the tool's untracked-not-ignored set: it travels only
# when named in carry). In a linked worktree info/exclude lives in the common git dir.
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qxF "/$GPU_DIR/" "$exclude" 2>/dev/null || echo "/$GPU_DIR/" >>"$exclude"

# ---- 1. configure, with a file-API query -----------------------------------------------------
mkdir -p "$BUILD/.cmake/api/v1/query"
touch "$BUILD/.cmake/api/v1/query/codemodel-v2"
cache_gen=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
if [[ -n $cache_gen && $cache_gen != Ninja ]]; then
  die "$BUILD was configured with '$cache_gen'; this script needs Ninja: rm -rf $BUILD (or BUILD=another-dir)"
fi
say "configure $BUILD (Release, INFER_CUDA=ON, sm_$ARCH)"
gen=()
[[ -z $cache_gen ]] && gen=(-G Ninja)
cmake -S . -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DINFER_CUDA=ON \
  -DINFER_CUDA_ARCHITECTURES="$ARCH" >"$BUILD/bundle-configure.log" 2>&1 ||
  { tail -30 "$BUILD/bundle-configure.log" >&2; die "configure failed (log: $BUILD/bundle-configure.log)"; }

# name <TAB> artifact path (relative to the build dir), for the executables the GPU run needs.
targets_tsv=$(python3 - "$BUILD" "$EXTRA" <<'PY'
import glob, json, os, re, sys
build, extra = sys.argv[1], sys.argv[2]
reply = os.path.join(build, ".cmake/api/v1/reply")
index = sorted(glob.glob(os.path.join(reply, "index-*.json")))
if not index:
    sys.exit("no CMake file-API reply in " + reply)
idx = json.load(open(index[-1]))
cm = json.load(open(os.path.join(reply, idx["reply"]["codemodel-v2"]["jsonFile"])))
fixed = {"infer-server", "infer-client", "load_generator"}
rows = []
for t in cm["configurations"][0]["targets"]:
    tj = json.load(open(os.path.join(reply, t["jsonFile"])))
    if tj.get("type") != "EXECUTABLE" or not tj.get("artifacts"):
        continue
    name = tj["name"]
    srcs = [s["path"] for s in tj.get("sources", [])]
    want = (name in fixed or re.fullmatch(r"cuda_.*_test", name)
            or any(p.startswith("benchmarks/cuda/") for p in srcs)
            or (extra and re.search(extra, name)))
    if want:
        rows.append((name, tj["artifacts"][0]["path"]))
for name, path in sorted(rows):
    print(f"{name}\t{path}")
PY
) || die "could not read the targets from the CMake file-API reply"
[[ -n $targets_tsv ]] || die "no targets found in $BUILD"
mapfile -t names < <(cut -f1 <<<"$targets_tsv")
declare -A artifact
while IFS=$'\t' read -r n p; do artifact[$n]=$p; done <<<"$targets_tsv"
say "targets (${#names[@]}): ${names[*]}"

# ---- 2. build, keep going, then ask ninja what is up to date ------------------------------------
build_log="$BUILD/bundle-build.log"
if [[ $SKIP_BUILD != 1 ]]; then
  say "build -j$JOBS (log: $build_log; a cold build of everything takes tens of minutes on 2 cores)"
  start=$SECONDS
  build_rc=0
  cmake --build "$BUILD" -j"$JOBS" --target "${names[@]}" -- -k 0 >"$build_log" 2>&1 || build_rc=$?
  if ((build_rc == 0)); then
    say "build OK in $((SECONDS - start)) s"
  else
    say "build had failures after $((SECONDS - start)) s; the first errors:"
    grep -E '^FAILED: |error[: ]' "$build_log" | head -20 >&2 || true
  fi
else
  build_rc=0   # SKIP_BUILD=1: bundle what is there (presence of the artifact only)
  : >"$build_log"
fi
# A target is built when the build passed, or when none of the outputs the keep-going build
# FAILED on is among its (transitive) inputs: `ninja -t inputs`. (A dry run `ninja -n` cannot
# tell: the CONFIGURE_DEPENDS glob check always re-runs CMake first.)
build_rc=${build_rc:-0}
mapfile -t failed_outputs < <(sed -n 's/^FAILED: //p' "$build_log" | tr ' ' '\n' | sed '/^$/d' | sort -u)
built=() failed=()
for n in "${names[@]}"; do
  ok=1
  [[ -x $BUILD/${artifact[$n]} ]] || ok=0
  # A failed build that names no failed step (e.g. CMake's re-run failed): trust nothing.
  ((build_rc != 0 && ${#failed_outputs[@]} == 0)) && ok=0
  if ((ok && build_rc != 0 && ${#failed_outputs[@]})); then
    inputs=$( (ninja -C "$BUILD" -t inputs "${artifact[$n]}" 2>/dev/null; echo "${artifact[$n]}") | sort -u)
    for o in "${failed_outputs[@]}"; do
      if grep -qxF -- "$o" <<<"$inputs"; then ok=0; break; fi
    done
  fi
  if ((ok)); then built+=("$n"); else failed+=("$n"); fi
done
if ((${#failed[@]})); then
  say "NOT BUILT (${#failed[@]}), left out of the bundle: ${failed[*]}"
  # Which failing build steps block each target: the FAILED lines of the keep-going build.
  grep '^FAILED: ' "$build_log" | sort -u | sed 's/^/   /' >&2 || true
fi
((${#built[@]})) || die "no target built; see $build_log"
say "built (${#built[@]}): ${built[*]}"

# ---- 3. assemble ----------------------------------------------------------------------------------
# Staged inside the build folder (ignored by git), so that a half-made bundle never travels.
stage="$BUILD/gpu-bundle.tmp"
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/lib" "$stage/lib-fallback" "$stage/models"
declare -A stripped_size=()
for n in "${built[@]}"; do
  strip --strip-unneeded -o "$stage/bin/$n" "$BUILD/${artifact[$n]}"
  stripped_size[$n]=$(stat -c %s "$stage/bin/$n")
done
# The CUDA backend is a dlopen()ed plugin (kernels/cuda_plugin.cc): the executables look for it
# next to themselves first, so it travels in bin/.
if [ -f "$BUILD/kernels/libinfer_cuda.so" ]; then
  strip --strip-unneeded -o "$stage/bin/libinfer_cuda.so" "$BUILD/kernels/libinfer_cuda.so"
else
  echo "bundle: $BUILD/kernels/libinfer_cuda.so is missing: the CUDA backend would not load" >&2
  exit 3
fi

# Shared libraries: everything ldd resolves except what the GPU machine must provide itself.
# glibc's own libraries must never travel (they have to match its ld.so); libstdc++/libgcc_s are
# newer there (Ubuntu 24.04-like) and kept as a fallback only; the CUDA driver, runtime and cuBLAS
# come from the device's toolkit or pip packages, matching its driver.
skip_re='^(linux-vdso|ld-linux|libc\.so|libm\.so|libmvec|libpthread|libdl\.so|librt\.so|libresolv|libutil\.so|libnsl|libanl|libBrokenLocale|libnss_|libthread_db|libstdc\+\+|libgcc_s|libcuda\.so|libcudart|libcublas|libnvidia-|libnvJitLink|libnvrtc)'
declare -A lib_from=()
missing_here=()
for f in "$stage"/bin/*; do
  while read -r line; do
    # "libfoo.so.1 => /path/libfoo.so.1 (0x...)" or "libfoo.so.1 => not found"
    [[ $line == *'=>'* ]] || continue
    soname=${line%% =>*}
    soname=${soname//[[:space:]]/}
    path=${line#*=> }
    path=${path%% (*}
    if [[ $path == 'not found' ]]; then
      [[ $soname =~ $skip_re ]] || missing_here+=("$(basename "$f"): $soname")
      continue
    fi
    [[ $soname =~ $skip_re ]] && continue
    lib_from[$soname]=$path
  done < <(ldd "$f" 2>/dev/null || true)
done
((${#missing_here[@]} == 0)) || die "ldd finds no file here for: ${missing_here[*]}"
for soname in "${!lib_from[@]}"; do
  cp -L "${lib_from[$soname]}" "$stage/lib/$soname"
done
for soname in libstdc++.so.6 libgcc_s.so.1; do
  p=$(ldconfig -p | awk -v s="$soname" '$1 == s && /x86-64/ && !p {p = $NF} END {print p}')
  [[ -n $p ]] && cp -L "$p" "$stage/lib-fallback/$soname"
done

# The all-MiniLM-L6-v2 tokenizer (its 87 MB of weights stay here: random MiniLM-shaped weights
# made on the GPU machine give the same speed). Without it run.sh falls back to the golden
# bert-embed tokenizer.
minilm=models/all-MiniLM-L6-v2
if [[ -f $minilm/tokenizer.json ]]; then
  mkdir -p "$stage/models/all-MiniLM-L6-v2-tokenizer"
  for f in tokenizer.json vocab.txt tokenizer_config.json special_tokens_map.json config.json; do
    [[ -f $minilm/$f ]] && cp "$minilm/$f" "$stage/models/all-MiniLM-L6-v2-tokenizer/"
  done
else
  say "note: $minilm is missing (scripts/fetch-default-models.sh fetches it); the embed benchmark will use the golden bert-embed tokenizer"
fi

# ---- 4. facts the GPU machine's run.sh checks, and the manifest --------------------------------
max_ver() {  # max_ver PREFIX FILE...: highest symbol version PREFIX_x.y the files need
  for f in "${@:2}"; do objdump -T "$f" 2>/dev/null; done |
    { grep -o "$1_[0-9][0-9.]*" || true; } | sed "s/^$1_//" | sort -V | tail -1
}
need_glibc=$(max_ver GLIBC "$stage"/bin/* "$stage"/lib/*)
need_glibcxx=$(max_ver GLIBCXX "$stage"/bin/* "$stage"/lib/*)
need_cxxabi=$(max_ver CXXABI "$stage"/bin/* "$stage"/lib/*)
cuda_needed=$(for f in "$stage"/bin/*; do readelf -d "$f" | sed -n 's/.*NEEDED.*\[\(libcu[^]]*\|libnv[^]]*\)\].*/\1/p'; done | sort -u | tr '\n' ' ')
nvcc_ver=$("${CUDACXX:-/usr/local/cuda/bin/nvcc}" --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p')
commit=$(git rev-parse --short HEAD)
dirty=$(git status --porcelain --untracked-files=no -- kernels server tests benchmarks proto client CMakeLists.txt | wc -l)
untracked_src=$(git ls-files --others --exclude-standard -- kernels server tests benchmarks proto client | wc -l)

cat >"$stage/build-info.env" <<EOF
# Written by scripts/gpu/bundle.sh; read by scripts/gpu/run.sh on the GPU machine.
BUNDLE_DATE='$(date -u '+%Y-%m-%d %H:%M UTC')'
BUNDLE_COMMIT='$commit'
BUNDLE_DIRTY_FILES='$dirty'
BUNDLE_UNTRACKED_SOURCES='$untracked_src'
BUNDLE_SOURCE_DIR='$REPO'
BUNDLE_BUILD_DIR='$REPO/$BUILD'
BUNDLE_ARCH='$ARCH'
BUNDLE_NVCC='$nvcc_ver'
BUNDLE_GLIBC_HERE='$(ldd --version | head -1 | grep -o '[0-9.]*$')'
BUNDLE_NEEDS_GLIBC='$need_glibc'
BUNDLE_NEEDS_GLIBCXX='$need_glibcxx'
BUNDLE_NEEDS_CXXABI='$need_cxxabi'
BUNDLE_CUDA_NEEDED='${cuda_needed% }'
BUNDLE_BUILT='${built[*]}'
BUNDLE_ARTIFACTS='$(for n in "${built[@]}"; do printf '%s=%s ' "$n" "${artifact[$n]}"; done)'
BUNDLE_FAILED='${failed[*]}'
EOF

# What travels besides .gpu: tracked files plus untracked files git does not ignore (the tool's
# rule), and shared/ if the checkout has one.
tree_bytes=$(python3 - <<'PY'
import os, subprocess
def listed(*args):
    out = subprocess.run(["git", "ls-files", "-z", *args], capture_output=True, check=True).stdout
    return [p for p in out.decode(errors="surrogateescape").split("\0") if p]
total = 0
for p in set(listed() + listed("--others", "--exclude-standard")):
    try:
        total += os.lstat(p).st_size
    except FileNotFoundError:
        pass  # deleted in the work tree: it does not travel
if os.path.isdir("shared") and not listed("shared"):
    for root, _, files in os.walk("shared"):
        total += sum(os.lstat(os.path.join(root, f)).st_size for f in files)
print(total)
PY
)

dir_bytes() { du -sb "$1" | cut -f1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
plain_bytes=$(dir_bytes "$stage")
# Sizes before any packing, for the manifest.
files_table=$(cd "$stage" && find . -type f -printf '%P\t%s\n' | sort |
  awk -F'\t' '{ printf "| %s | %s |\n", $1, $2 }')
packed=no
if [[ $PACK == always || ($PACK == auto && $plain_bytes -gt $((BUDGET_MIB * 1048576))) ]]; then
  say "packing bin/ lib/ lib-fallback/ into payload.tar.xz ($(mib "$plain_bytes") MiB plain)"
  (cd "$stage" && XZ_OPT="-9 -T${JOBS}" tar -cJf payload.tar.xz bin lib lib-fallback &&
     rm -rf bin lib lib-fallback)
  packed=yes
fi

{
  echo "# .gpu bundle manifest"
  echo
  echo "Built $(date -u '+%Y-%m-%d %H:%M UTC') from commit \`$commit\` ($dirty modified tracked files,"
  echo "$untracked_src untracked source files in the work tree) by scripts/gpu/bundle.sh in \`$REPO/$BUILD\`:"
  echo "Release, sm_$ARCH, nvcc $nvcc_ver, glibc here $(ldd --version | head -1 | grep -o '[0-9.]*$')."
  echo "Needs on the GPU machine: GLIBC_$need_glibc, GLIBCXX_$need_glibcxx, CXXABI_$need_cxxabi;"
  echo "CUDA libraries from the machine: ${cuda_needed:-none} (+ libcuda.so.1 from the driver)."
  echo "Packed into payload.tar.xz: $packed (run.sh unpacks it; a few seconds)."
  echo
  echo "## Targets"
  echo
  echo "| target | status | bytes (stripped) |"
  echo "|---|---|---|"
  for n in "${names[@]}"; do
    if [[ " ${built[*]} " == *" $n "* ]]; then
      echo "| $n | built | $(stat -c %s "$BUILD/${artifact[$n]}") -> ${stripped_size[$n]} |"
    else
      echo "| $n | **NOT BUILT** | - |"
    fi
  done
  echo
  echo "## Files ($(mib "$plain_bytes") MiB before packing)"
  echo
  echo "| file | bytes |"
  echo "|---|---|"
  echo "$files_table"
} >"$stage/MANIFEST.md"

gpu_bytes=$(dir_bytes "$stage")
total=$((gpu_bytes + tree_bytes))
summary="$GPU_DIR: $(mib "$gpu_bytes") MiB (budget $BUDGET_MIB MiB); work tree that travels: $(mib "$tree_bytes") MiB; together $(mib "$total") MiB of the tool's $TREE_LIMIT_MIB MiB"
printf '\n## Size\n\n%s\n' "$summary" >>"$stage/MANIFEST.md"

if ((gpu_bytes > BUDGET_MIB * 1048576)); then
  rm -rf "$stage"
  die "$summary: the bundle is over budget even packed. Leave targets out (fewer cuda_* tests, EXTRA=''), or raise BUDGET_MIB if the work tree is small enough"
fi
if ((total > TREE_LIMIT_MIB * 1048576)); then
  rm -rf "$stage"
  die "$summary: over the tool's 64 MiB limit; shrink the untracked files in the work tree or the bundle"
fi

rm -rf "$GPU_DIR"
mv "$stage" "$GPU_DIR"

say "$summary"
say "bundled: ${built[*]}"
say "manifest: $GPU_DIR/MANIFEST.md; on the GPU machine (scripts/gpu/README.md): run tool, carry [\"$GPU_DIR\"], 'bash scripts/gpu/run.sh check tests', then 'bash scripts/gpu/run.sh bench'"
if ((${#failed[@]})); then
  say "PARTIAL BUNDLE: not built: ${failed[*]}"
  exit 3
fi
