# Multi-stage build: a static orgdav binary on a minimal non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/orgdav ./cmd/orgdav \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/orgdav /usr/local/bin/orgdav
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME /data
# 9464: /metrics for Prometheus; reachable only where the port is published.
EXPOSE 8080 9464
# Mount a config at /etc/orgdav/orgdav.yaml and add "--config", "/etc/orgdav/orgdav.yaml".
# Without one the image serves the demo organisation.
ENTRYPOINT ["/usr/local/bin/orgdav"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--metrics-listen", "0.0.0.0:9464", "--data", "/data"]
