# syntax=docker/dockerfile:1
# Storefront's container image: `docker build -t storefront .`
#
# Stage 1 builds the dependencies alone (from the manifests and the lock file, with an
# empty main and empty libraries), so that a change to the sources reuses that layer;
# stage 2 builds the workspace; the runtime is distroless (glibc and CA roots, no shell,
# no package manager) and runs as an unprivileged user. The binary embeds its migrations,
# default configuration and Swagger UI, so it is the only file copied.

ARG RUST_VERSION=1.90

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src

# Dependencies: manifests only, each crate's sources replaced by an empty target.
COPY Cargo.toml Cargo.lock ./
COPY crates/app/Cargo.toml crates/app/Cargo.toml
COPY crates/auth/Cargo.toml crates/auth/Cargo.toml
COPY crates/contract/Cargo.toml crates/contract/Cargo.toml
COPY crates/domain/Cargo.toml crates/domain/Cargo.toml
COPY crates/http/Cargo.toml crates/http/Cargo.toml
COPY crates/llm/Cargo.toml crates/llm/Cargo.toml
COPY crates/mail/Cargo.toml crates/mail/Cargo.toml
COPY crates/memory/Cargo.toml crates/memory/Cargo.toml
COPY crates/postgres/Cargo.toml crates/postgres/Cargo.toml
COPY crates/redis/Cargo.toml crates/redis/Cargo.toml
COPY crates/server/Cargo.toml crates/server/Cargo.toml
COPY crates/testkit/Cargo.toml crates/testkit/Cargo.toml
RUN for crate in crates/*/; do mkdir -p "$crate/src" && touch "$crate/src/lib.rs"; done \
    && echo 'fn main() {}' > crates/server/src/main.rs \
    && echo 'fn main() {}' > crates/postgres/build.rs \
    && cargo build --release --locked -p storefront-server \
    && rm -rf crates

# The workspace itself. `touch` makes cargo rebuild the crates whose empty stand-ins it
# has just built (their mtimes would otherwise look newer than the real sources).
COPY crates crates
COPY config config
COPY migrations migrations
RUN find crates -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p storefront-server \
    && install -D -m 0755 target/release/storefront /out/storefront

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /out/storefront /usr/local/bin/storefront
# uid 65532 ("nonroot"): nothing in the image is writable by it, and it needs nothing.
USER 65532:65532
ENV STOREFRONT_ENV=production \
    STOREFRONT__SERVER__HOST=0.0.0.0 \
    STOREFRONT__SERVER__PORT=8080
EXPOSE 8080 9464
# No curl in the image: the binary probes its own /health (exit 0 on 200, else 1).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/storefront", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/storefront"]
CMD ["serve"]
