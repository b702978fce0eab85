"""The external service `test_utils.py::test_launch_external_services` launches (written by us:
the sdist's tests/ omit this file). Its contract, from the test and Hypha's docs on
`launch_external_services`: connect with the given server URL, workspace and token, register a
service with the given id whose `test(x)` answers `x * 100`, and serve until killed."""

import argparse
import asyncio

from hypha_rpc import connect_to_server


async def main(args):
    server = await connect_to_server(
        {"server_url": args.server_url, "workspace": args.workspace, "token": args.token}
    )
    await server.register_service({"id": args.service_id, "test": lambda x: x * 100})
    await server.serve()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-url", required=True)
    parser.add_argument("--service-id", required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--token", required=True)
    asyncio.run(main(parser.parse_args()))
