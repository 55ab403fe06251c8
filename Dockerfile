# Multi-stage build that runs the same scripts as CI (scripts/install-deps.sh, scripts/build.sh)
# and the same tests, fetches all-MiniLM-L6-v2, then ships the server, the client, the default
# models and their runtime libraries.
FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN bash scripts/install-deps.sh && bash scripts/build.sh \
 && ctest --test-dir build --output-on-failure -j"$(nproc)" \
 && bash scripts/fetch-default-models.sh

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libopenblas0-openmp libgomp1 libabsl20220623 libutf8proc2 libgrpc++1.51 libprotobuf32 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
 && update-alternatives --set libopenblas.so.0-x86_64-linux-gnu \
      /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/infer
COPY --from=build /src/build/server/infer-server /usr/local/bin/infer-server
COPY --from=build /src/build/client/infer-client /usr/local/bin/infer-client
COPY --from=build /src/build/server/tools/infer-cli /usr/local/bin/infer-cli
COPY --from=build /src/models/gpt2-en-mini models/gpt2-en-mini
COPY --from=build /src/models/all-MiniLM-L6-v2 models/all-MiniLM-L6-v2
COPY --from=build /src/deploy/default-models.json deploy/default-models.json
# gRPC and Prometheus /metrics. Kubernetes probes: grpc health on 50051 (service "" or
# infer.v1.InferenceService).
EXPOSE 50051 9090
STOPSIGNAL SIGTERM
ENTRYPOINT ["infer-server"]
CMD ["--config", "deploy/default-models.json", "--shutdown-delay-seconds", "5"]
