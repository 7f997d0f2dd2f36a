# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Serialize Glance's sqlite transactions, for tests with many workers.

oslo.db starts every sqlite transaction with a plain (deferred) ``BEGIN``.
Two transactions that read and then write conflict, and sqlite then fails
one at once with "database is locked" instead of waiting, which Glance
reports as a 500.  Production databases (MySQL, PostgreSQL) do not behave
so; with sqlite it turns parallel uploads through several workers into
random failures.  Imported by the glance-api workers (uwsgi ``import``),
this module makes every transaction begin with ``BEGIN IMMEDIATE``: it
takes the write lock first, so transactions wait for each other (up to the
connection's ``timeout``) instead of failing.
"""

import sqlalchemy
from sqlalchemy import engine


@sqlalchemy.event.listens_for(engine.Engine, 'begin')
def _begin_immediate(conn):
    # Class-level listeners run before oslo.db's engine-level one, which
    # then sees the transaction begun and emits nothing.
    if conn.dialect.name != 'sqlite' or 'in_transaction' in conn.info:
        return
    conn.exec_driver_sql('BEGIN IMMEDIATE')
    conn.info['in_transaction'] = True
