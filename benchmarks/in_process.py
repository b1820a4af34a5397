"""JPN and CAN in one process, wired as over HTTP with no socket and no server.

JPN's courier posts into CAN's ``Exchange.receive`` and ``receive_batch`` (with the
consistency proof a batch carries in its header), and CAN asks JPN for the consistency
proofs it lacks, both through ``httpx.MockTransport``: what is measured is the nodes' own
work and the HTTP clients', never a name lookup of the peers' placeholder addresses.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx

from gsoia.api.federation import batch_answer
from gsoia.federation.packages import PackageRejected
from gsoia.federation.peers import INBOX_BATCH, Peer
from gsoia.federation.witnessing import CONSISTENCY
from gsoia.node.service import Node

CARRIED = "Gsoia-Consistency"
"""The header a batch may carry its consistency proof in (``federation.carried``)."""


class Wiring:
    """``jpn`` and ``can`` pinned to each other, each one's courier answered by the other."""

    def __init__(self, jpn: Node, can: Node) -> None:
        self.jpn, self.can = jpn, can
        self.asked = 0
        """How many consistency proofs CAN asked JPN for."""
        jpn.exchange.add_peer(Peer("CAN", "http://can.invalid", can.public))
        can.exchange.add_peer(Peer("JPN", "http://jpn.invalid", jpn.public))
        for node, answer in ((jpn, self._can), (can, self._jpn)):
            node.exchange.courier.http.close()
            node.exchange.courier.http = httpx.Client(transport=httpx.MockTransport(answer))

    def _can(self, request: httpx.Request) -> httpx.Response:
        carried = {"carried": request.headers[CARRIED]} if CARRIED in request.headers else {}
        try:
            if request.url.path == INBOX_BATCH:
                received = self.can.exchange.receive_batch(request.content, **carried)
                answers = [batch_answer(p, r) for p, r in received]
                return httpx.Response(200, json={"results": answers})
            return httpx.Response(200, json=self.can.exchange.receive(request.content, **carried))
        except PackageRejected as e:
            return httpx.Response(409, json={"reason": e.reason.value, "detail": e.detail})

    def _jpn(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != CONSISTENCY:
            return httpx.Response(404)
        self.asked += 1
        query = parse_qs(request.url.query.decode())
        first, second = int(query["first"][0]), int(query["second"][0])
        proof = self.jpn.exchange.witnesses.consistency_for(request.headers, first, second, None)
        return httpx.Response(200, json=proof)
