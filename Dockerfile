# syntax=docker/dockerfile:1
#
# postbox in a container: a static binary on distroless, as a non-root user.
#
#   docker build -t postbox .
#   docker run -d --name postbox -p 8080:8080 \
#     -v "$PWD/postbox.yaml:/etc/postbox/postbox.yaml:ro" \
#     -v postbox-data:/var/lib/postbox \
#     -e LAMP_TOKEN=... postbox
#
# Multi-platform (a Raspberry Pi, say), cross-compiled on the build machine:
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 -t postbox .
#
# The image has no shell and no tools: exec actions can only run what you
# add (FROM this image, COPY --from=... your commands). See docs/deploy.md.

# The build runs on the build machine's own platform and cross-compiles:
# CGO_ENABLED=0 needs no C toolchain for the target.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
ARG COMMIT=
ARG TARGETOS TARGETARCH TARGETVARIANT
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=${TARGETVARIANT#v} \
    go build -trimpath -ldflags="-s -w -X main.buildVersion=${VERSION} -X main.buildCommit=${COMMIT}" \
      -o /out/postbox ./cmd/postbox \
 && mkdir -p /out/data /out/etc \
 && ln -s /var/lib/postbox /out/etc/postbox-data

# distroless/static: CA certificates (for ACME and http actions), tzdata,
# /etc/passwd with nonroot (65532), and nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/postbox /usr/local/bin/postbox
COPY --from=build --chown=65532:65532 /out/data /var/lib/postbox
# A relative data: is relative to the configuration file: the default,
# postbox-data beside /etc/postbox/postbox.yaml, is the volume.
COPY --from=build /out/etc /etc/postbox
USER 65532:65532
WORKDIR /var/lib/postbox
VOLUME /var/lib/postbox
# Hooks; the admin listener (console, API, /metrics) when the config binds
# it beyond loopback, which needs an admin token.
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/postbox"]
CMD ["serve", "--config", "/etc/postbox/postbox.yaml", "--log-format", "json"]
