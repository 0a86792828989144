"""A minimal OTLP/gRPC trace receiver for scripts/stack-smoke.sh.

No OpenTelemetry Collector or Jaeger can be had where the smoke runs, so the
replicas export to this instead: it accepts TraceService/Export and appends
one JSON line per exported resource (service name, instance, span names) to
the file given, so the script can see which replicas' traces arrived.

    python3 otlp_sink.py --port 4317 --out spans.jsonl
"""

import argparse
import json
import signal
import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Sink(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()

    def Export(self, request, context):
        lines = []
        for rs in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in rs.resource.attributes}
            spans = [s.name for ss in rs.scope_spans for s in ss.spans]
            lines.append(json.dumps({
                "service": attrs.get("service.name"),
                "instance": attrs.get("service.instance.id"),
                "spans": spans,
            }))
        with self.lock, open(self.out, "a", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
        return trace_service_pb2.ExportTraceServiceResponse()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Sink(args.out), server)
    if server.add_insecure_port(f"{args.bind}:{args.port}") == 0:
        raise SystemExit(f"otlp_sink: cannot listen on {args.bind}:{args.port}")
    server.start()
    print(f"otlp_sink: listening on {args.bind}:{args.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=1)


if __name__ == "__main__":
    main()
