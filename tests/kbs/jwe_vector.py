#!/usr/bin/python3
"""Interop vectors for the C unit tests: a flattened JWE made by jwcrypto (through the test KBS's
own encrypt()) for the public JWK given as argv[1], with plaintext argv[2]. Prints the JWE."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import json  # noqa: E402

from jwcrypto import jwk  # noqa: E402

import kbs  # noqa: E402

key = jwk.JWK(**json.loads(sys.argv[1]))
sys.stdout.write(kbs.encrypt(key, sys.argv[2].encode()).decode())
