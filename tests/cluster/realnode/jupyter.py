"""Talking to a running JupyterLab as a client would: REST for kernels and contents, the kernel
protocol over the kernel's websocket (jupyter_client's message format, v5)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import uuid
from typing import Any

import aiohttp


def _message(code: str, session: str) -> dict[str, Any]:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "username": "tests",
            "session": session,
            "msg_type": "execute_request",
            "version": "5.3",
            "date": datetime.datetime.now(datetime.UTC).isoformat(),
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }


async def _execute(base: str, token: str, kernel_id: str, code: str) -> str:
    ws_url = base.replace("http://", "ws://", 1) + f"api/kernels/{kernel_id}/channels"
    session = uuid.uuid4().hex
    headers = {"Authorization": f"token {token}"}
    out: list[str] = []
    # The reply comes on the shell channel, the output on iopub: no order between them. The
    # output is complete when iopub says the kernel went idle for this request.
    replied = idle = False
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url, headers=headers) as ws:
        request = _message(code, session)
        await ws.send_json(request)
        msg_id = request["header"]["msg_id"]
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            msg = frame.json()
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                raise AssertionError(f"the kernel raised: {msg['content']}")
            elif kind == "execute_reply":
                assert msg["content"]["status"] == "ok", msg["content"]
                replied = True
            elif kind == "status" and msg["content"].get("execution_state") == "idle":
                idle = True
            if replied and idle:
                return "".join(out)
    raise AssertionError("the kernel's websocket closed before the reply")


def run_code(base: str, token: str, kernel_id: str, code: str, timeout: float = 60) -> str:
    """Execute `code` in a running kernel; returns what it printed (stdout and stderr).

    In a thread of its own: playwright's sync API may be running an event loop in this one."""
    coro = asyncio.wait_for(_execute(base, token, kernel_id, code), timeout)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _start(base: str, token: str, kernel_id: str, code: str) -> None:
    ws_url = base.replace("http://", "ws://", 1) + f"api/kernels/{kernel_id}/channels"
    headers = {"Authorization": f"token {token}"}
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url, headers=headers) as ws:
        request = _message(code, uuid.uuid4().hex)
        await ws.send_json(request)
        msg_id = request["header"]["msg_id"]
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            msg = frame.json()
            if (
                msg.get("parent_header", {}).get("msg_id") == msg_id
                and msg["msg_type"] == "status"
                and msg["content"].get("execution_state") == "busy"
            ):
                return
    raise AssertionError("the kernel's websocket closed before the kernel went busy")


def start_code(base: str, token: str, kernel_id: str, code: str, timeout: float = 60) -> None:
    """Start `code` in a kernel and disconnect once it runs: the kernel stays busy with nobody
    connected (as a browser tab closed on a long cell)."""
    coro = asyncio.wait_for(_start(base, token, kernel_id, code), timeout)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


def notebook(source: str) -> dict[str, Any]:
    """A minimal nbformat 4 notebook with one code cell."""
    return {
        "type": "notebook",
        "format": "json",
        "content": {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {
                    "cell_type": "code",
                    "id": "cell-1",
                    "source": source,
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                }
            ],
        },
    }
