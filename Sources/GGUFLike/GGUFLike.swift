// Module GGUFLike. See ARCHITECTURE.md.
