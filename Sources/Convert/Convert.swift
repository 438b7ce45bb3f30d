// Module Convert. See ARCHITECTURE.md.
