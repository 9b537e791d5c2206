"""What the tests of ``sarfeat register-stack``'s command line share: the command run
without a Dask cluster and without registering anything."""

from __future__ import annotations

import contextlib


def record_stack_calls(monkeypatch) -> dict:
    """Run ``sarfeat register-stack`` on no cluster, its ``iter_register_pairs`` replaced by
    one that registers nothing: the dict returned receives the keywords the command gives it
    (``progress``, ``weights``, ...), and ``pairs``."""
    import sarfeat.parallel

    given: dict = {}

    class Cluster:
        def scheduler_info(self):
            return {"workers": {}}

        def run(self, function, *args, **kwargs):  # on each worker: there is none
            return {}

    def capture(pairs, **keywords):
        given.update(keywords, pairs=list(pairs))
        return iter(())

    monkeypatch.setattr(sarfeat.parallel, "client_for",
                        lambda *args: contextlib.nullcontext(Cluster()))
    monkeypatch.setattr(sarfeat.parallel, "iter_register_pairs", capture)
    return given
