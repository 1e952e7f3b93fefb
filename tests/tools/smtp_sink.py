"""An SMTP sink for the notice tests: aiosmtpd saves every message it receives.

Run it as aiosmtpd's handler (PYTHONPATH must include this folder):

    python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_sink.Sink OUT_DIR

Each message becomes OUT_DIR/NNNN.eml (the raw bytes) and OUT_DIR/NNNN.json with the
envelope and the decoded headers and text, so tests written in any language can read it:
{"mail_from", "rcpt_tos", "from", "to", "cc", "subject", "body"}. The JSON is written to a
temporary name first and renamed, so a reader never sees half a file.
"""

import email
import email.policy
import itertools
import json
import os


class Sink:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        os.makedirs(out_dir, exist_ok=True)
        self.numbers = itertools.count(1)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("smtp_sink.Sink needs one argument: the output folder")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        n = next(self.numbers)
        base = os.path.join(self.out_dir, f"{n:04d}")
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        summary = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "from": str(msg.get("From", "")),
            "to": str(msg.get("To", "")),
            "cc": str(msg.get("Cc", "")),
            "subject": str(msg.get("Subject", "")),
            "body": body.get_content() if body is not None else "",
        }
        with open(base + ".json.tmp", "w", encoding="utf-8") as f:
            json.dump(summary, f, ensure_ascii=False)
        os.replace(base + ".json.tmp", base + ".json")
        return "250 Message accepted for delivery"
