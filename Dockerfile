# The Bulwark image: a static binary on distroless, non-root, no shell.
#   make docker-build                      (IMG=ghcr.io/bulwark-k8s/bulwark:$(VERSION))
#   docker build --build-arg VERSION=v0.1.0 -t ghcr.io/bulwark-k8s/bulwark:v0.1.0 .
# ARG VERSION defaults to the release, "v" + the chart's version (test/helm, TestOneVersion).
# The builder runs the same command as `make build` (test/image checks that they agree and
# that the binary is static): keep the two in step.

FROM golang:1.26 AS builder
WORKDIR /src
# Dependencies first, so that a source change reuses the module download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY internal/ internal/
COPY pkg/ pkg/
ARG VERSION=v0.1.0
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/bulwark ./cmd/bulwark

FROM gcr.io/distroless/static:nonroot
COPY --from=builder /out/bulwark /bulwark
USER 65532:65532
ENTRYPOINT ["/bulwark"]
