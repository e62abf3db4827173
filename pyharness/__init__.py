"""pyharness: Jepsen-style consistency tests of etcd, with Ansible on hosts."""

__version__ = "0.1.0"
