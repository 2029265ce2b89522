"""Storage, the lowest layer: the declarative base (:mod:`bot.db.base`), the database
(:mod:`bot.db.database`: engine, migrations) and the transactional base of every store
(:mod:`bot.db.transactions`). Nothing here imports a feature."""
