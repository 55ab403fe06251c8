# Multi-stage build that runs the same scripts as CI (scripts/install-deps.sh, scripts/build.sh)
# and the same tests, then ships only the binaries and their runtime libraries.
FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN bash scripts/install-deps.sh && bash scripts/build.sh \
 && ctest --test-dir build --output-on-failure -j"$(nproc)"

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libopenblas0-openmp libgomp1 libabsl20220623 libutf8proc2 \
 && update-alternatives --set libopenblas.so.0-x86_64-linux-gnu \
      /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/server/tools/infer-cli /usr/local/bin/infer-cli
ENTRYPOINT ["infer-cli"]
