"""Opens kubeseal-format sealed values with the controller's private key,
written from the format alone with Python's `cryptography` package: an
implementation independent of labctl's, for the tests.

usage: unseal.py KEY.pem LABEL < values   (one base64 value per line)
prints one line per value: the plaintext in base64, or ERROR.
"""
import base64
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def unseal(key, blob, label):
    n = int.from_bytes(blob[:2], "big")
    session = key.decrypt(
        blob[2 : 2 + n],
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()),
            algorithm=hashes.SHA256(),
            label=label or None,
        ),
    )
    return AESGCM(session).decrypt(b"\0" * 12, blob[2 + n :], None)


def main():
    with open(sys.argv[1], "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    label = sys.argv[2].encode()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            plain = unseal(key, base64.b64decode(line, validate=True), label)
            print(base64.b64encode(plain).decode())
        except Exception:  # noqa: BLE001 - any failure is a failed unseal
            print("ERROR")


main()
