#!/usr/bin/env python3
"""A loopback SMTP server for the receipts tests, on aiosmtpd.

Listens on 127.0.0.1, on a port the system picks, and prints that port as
its first line of output once it listens. Stores every message it accepts
as N.eml (the bytes received) and N.json (its envelope, headers and decoded
parts), each written whole before the server answers 250. Refuses a
recipient whose local part is "busy" (451, transient) or "nobody" (550,
permanent). With --login and --password it requires that login (AUTH PLAIN
or LOGIN, offered without TLS: this is loopback). Exits when its standard input closes (the test that started it
is gone), or after --lifetime-seconds at most.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import sys

try:
    from aiosmtpd.smtp import SMTP, AuthResult
except ImportError:
    sys.stderr.write("aiosmtpd is not installed: python3 -m pip install aiosmtpd\n")
    sys.exit(3)


class Store:
    """An aiosmtpd handler that keeps every message in a directory."""

    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local_part = address.split("@")[0].lower()
        if local_part == "busy":
            return "451 4.2.1 Mailbox busy, try again later"
        if local_part == "nobody":
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        summary = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": [[name, str(value)] for name, value in message.items()],
            "content_type": message.get_content_type(),
            "parts": [part_summary(part) for part in message.iter_parts()],
        }
        self.write(f"{self.count}.eml", raw)
        self.write(f"{self.count}.json", json.dumps(summary, ensure_ascii=False).encode())
        return "250 2.0.0 Message accepted"

    def write(self, name, data):
        temporary = os.path.join(self.directory, f".{name}.tmp")
        with open(temporary, "wb") as file:
            file.write(data)
        os.replace(temporary, os.path.join(self.directory, name))


def part_summary(part):
    return {
        "content_type": part.get_content_type(),
        "charset": part.get_content_charset(),
        "transfer_encoding": part.get("Content-Transfer-Encoding"),
        "content": part.get_content(),
    }


def authenticator_for(login, password):
    """An aiosmtpd authenticator that takes `login` and `password` only."""

    def authenticate(server, session, envelope, mechanism, auth_data):
        given = (auth_data.login.decode(), auth_data.password.decode())
        # handled=False: aiosmtpd then answers a failure with 535 itself.
        return AuthResult(success=given == (login, password), handled=False)

    return authenticate


def smtp_options(args):
    # A fixed hostname: aiosmtpd would otherwise ask the resolver for ours.
    options = {"hostname": "sink.invalid", "enable_SMTPUTF8": True}
    if args.login is not None:
        options.update(
            authenticator=authenticator_for(args.login, args.password),
            auth_required=True,
            auth_require_tls=False,
        )
    return options


async def serve(args):
    loop = asyncio.get_running_loop()
    handler = Store(args.dir)
    options = smtp_options(args)
    server = await loop.create_server(lambda: SMTP(handler, **options), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)

    parent_gone = loop.create_future()

    def on_stdin():
        if not os.read(sys.stdin.fileno(), 4096) and not parent_gone.done():
            parent_gone.set_result(None)

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    try:
        await asyncio.wait_for(parent_gone, timeout=args.lifetime_seconds)
    except asyncio.TimeoutError:
        pass
    server.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--lifetime-seconds", type=float, default=120)
    parser.add_argument("--login")
    parser.add_argument("--password")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
