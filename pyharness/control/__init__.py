"""The control plane: how the controller reaches the hosts.

An inventory names the hosts (:mod:`.inventory`); :mod:`.ansible` runs the
project's playbooks on them through ansible-runner and reads back, per host
and per task, what happened and when; :mod:`.lab` builds the local lab
those playbooks run against by default; :mod:`.paths` says where the
project's files and the run's state live. Nothing here knows etcd's API or
any workload: the stages above ask for a playbook, and get a result.
"""
