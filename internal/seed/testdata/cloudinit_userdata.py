"""Read a user-data file with cloud-init's own code and print what it sees.

Usage: cloudinit_userdata.py USER-DATA-FILE

Prints one JSON object: "parts" lists every part that cloud-init's
UserDataProcessor hands to a handler (content type, file name, the Merge-Type
header and the base64 of the decoded payload), and "config" is the
cloud-config that cloud-init's CloudConfigPartHandler merges from the
text/cloud-config parts, in order, with their Merge-Type headers.
"""
import base64
import json
import sys
import tempfile

from cloudinit import handlers, helpers, util
from cloudinit.handlers.cloud_config import CloudConfigPartHandler
from cloudinit.user_data import UserDataProcessor


def main():
    with open(sys.argv[1], "rb") as f:
        blob = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        paths = helpers.Paths({"cloud_dir": tmp, "run_dir": tmp})
        message = UserDataProcessor(paths).process(blob)
        merger = CloudConfigPartHandler(paths)
        merger.handle_part(None, handlers.CONTENT_START, None, None, None, {})
        parts = []
        for part in message.walk():
            if part.get_content_maintype() == "multipart":
                continue
            ctype = part.get_content_type()
            payload = util.fully_decoded_payload(part)
            if isinstance(payload, str):
                raw = payload.encode("utf-8", "surrogateescape")
            else:
                raw = payload
            headers = dict(part)
            parts.append({
                "type": ctype,
                "filename": part.get_filename(),
                "merge_type": headers.get("Merge-Type", ""),
                "payload": base64.b64encode(raw).decode("ascii"),
            })
            if ctype == "text/cloud-config":
                headers["Content-Type"] = ctype
                merger.handle_part(None, ctype, part.get_filename(), payload,
                                   None, headers)
        config = merger.cloud_buf
    json.dump({"parts": parts, "config": config}, sys.stdout, default=str)


if __name__ == "__main__":
    main()
