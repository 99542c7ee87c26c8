"""Reference Avro datums for crates/stream/src/avro.rs, written by fastavro.

    python3 -m venv v && v/bin/pip install fastavro==1.13.1
    v/bin/python make.py     # writes datums.txt next to this file

schema.json is the schema wasmad derives for the table in
crates/stream/tests/avro_reference.rs (checked there); rows.json holds the
rows; datums.txt gets one hex-encoded datum per row, as
fastavro.schemaless_writer encodes it (one Avro datum, no container header:
what a Kafka record of 'format' = 'avro' holds).
"""
import io
import json
import os

import fastavro

here = os.path.dirname(os.path.abspath(__file__))
schema = fastavro.parse_schema(json.load(open(os.path.join(here, "schema.json"))))
rows = json.load(open(os.path.join(here, "rows.json")))
with open(os.path.join(here, "datums.txt"), "w") as out:
    out.write(f"# fastavro {fastavro.__version__}, schemaless_writer, one datum per line\n")
    for row in rows:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, row)
        out.write(buf.getvalue().hex() + "\n")
