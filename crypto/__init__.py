"""Cryptographic building blocks; depends on nothing else of kbx."""

from crypto.ssh_keys import KeyError_, PublicKey, decode_key_file, parse_public_key

__all__ = ["KeyError_", "PublicKey", "decode_key_file", "parse_public_key"]
