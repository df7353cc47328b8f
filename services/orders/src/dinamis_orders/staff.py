"""Bootstrap DINAMIS staff accounts in the orders service's records.

Staff are users of the platform's own organisation (`staff_organisation_id`, "dinamis"):
the only place the operator and admin roles exist. Admins add further staff through
`PUT /v1/organisations/dinamis/users/{sub}`; the first admin comes from here, run by
whoever operates the database (same settings as the service):

    python -m dinamis_orders.staff SUB EMAIL --role admin [--name "Jeanne Admin"]
    python -m dinamis_orders.staff SUB EMAIL --role operator --deactivate
    python -m dinamis_orders.staff SUB EMAIL --role governance   # the working group

SUB is the identity provider's subject of the person (Keycloak:
`deploy/local/keycloak.py user EMAIL` prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import json

from dinamis_orders.adapters.mongo import mongo_orders
from dinamis_orders.service.entitlements import ensure_staff
from dinamis_orders.settings import OrdersSettings
from dinamis_shared.auth import Role
from dinamis_shared.clients import mongo_client


async def _run(args: argparse.Namespace) -> dict:
    settings = OrdersSettings()
    client = mongo_client(settings)
    try:
        orders = mongo_orders(client[settings.mongo_database], settings)
        return await ensure_staff(
            orders,
            args.sub,
            args.email,
            args.name or args.email,
            [Role(r) for r in args.role],
            by="staff-bootstrap",
            active=not args.deactivate,
        )
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sub")
    parser.add_argument("email")
    parser.add_argument("--role", action="append", choices=["operator", "admin", "governance"], required=True)
    parser.add_argument("--name")
    parser.add_argument("--deactivate", action="store_true")
    print(json.dumps(asyncio.run(_run(parser.parse_args())), default=str, indent=1))


if __name__ == "__main__":
    main()
