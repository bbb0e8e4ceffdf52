#!/usr/bin/env python3
"""scrape.py PORT EXPRESSION: GETs http://127.0.0.1:PORT/metrics, checks the
answer is Prometheus' text format 0.0.4 as Prometheus' own Python client
parses it (every counter's samples named _total), and prints EXPRESSION
evaluated with m(name, **labels) -> the sample's value, or None if absent;
text is the raw body. Exit 1 with a one-line reason when the answer is not
well formed."""
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main():
    port, expression = sys.argv[1], sys.argv[2]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        if r.status != 200:
            sys.exit(f"scrape: status {r.status}")
        kind = r.headers.get("Content-Type", "")
        if kind != "text/plain; version=0.0.4; charset=utf-8":
            sys.exit(f"scrape: Content-Type is '{kind}'")
        text = r.read().decode("utf-8")
    samples = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if family.type == "counter" and not s.name.endswith(("_total", "_created")):
                    sys.exit(f"scrape: counter sample {s.name} does not end in _total")
                key = (s.name, frozenset(s.labels.items()))
                if key in samples:
                    sys.exit(f"scrape: {s.name}{s.labels} appears twice")
                samples[key] = s.value
    except ValueError as e:
        sys.exit(f"scrape: not the text format: {e}")

    def m(name, **labels):
        value = samples.get((name, frozenset(labels.items())))
        if value is not None and value == int(value):
            return int(value)
        return value

    print(eval(expression, {"m": m, "text": text, "samples": samples}))


main()
