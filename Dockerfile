# ampx in a small image: one static binary on an empty base, run as an
# unprivileged user. TLS roots are built into the binary (webpki roots), so
# the image needs no CA bundle.
#
#   docker build -t ampx .
#   docker run --rm -v "$PWD:/work" -e AMPLITUDE_MANAGEMENT_API_KEY ampx plan flags/

FROM rust:1-alpine AS build
# The C compiler and musl headers for the crates that build C (ring, mimalloc).
# hadolint ignore=DL3018
RUN apk add --no-cache build-base
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ampx \
    && strip target/release/ampx \
    && ./target/release/ampx --version

FROM scratch
COPY --from=build /src/target/release/ampx /usr/local/bin/ampx
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/ampx"]
CMD ["--help"]
