"""Scrapes a /metrics URL and parses it with prometheus_client's text-format
parser (Debian's python3-prometheus-client), which the project did not write.
Prints one line per family and per sample, for the C++ test to assert on:

    family <name> <type>
    sample <name> <labels as sorted JSON> <value>

Exits 1 with the parser's error when the text does not parse."""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

with urllib.request.urlopen(sys.argv[1], timeout=10) as answer:
    content_type = answer.headers.get("Content-Type")
    text = answer.read().decode("utf-8")
print("content-type", content_type)
try:
    for family in text_string_to_metric_families(text):
        print("family", family.name, family.type)
        for sample in family.samples:
            print("sample", sample.name, json.dumps(sample.labels, sort_keys=True, separators=(",", ":")),
                  repr(float(sample.value)))
except Exception as error:  # the parser raises ValueError and others on bad input
    print("parse error:", error)
    sys.exit(1)
