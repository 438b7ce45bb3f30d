/// `inspect` of a .gguf file (owned by the GGUF work; until it lands, a clear failure).
func inspectGGUF(path: String, json: Bool) throws {
    throw CommandFailure("inspecting .gguf files is not supported yet (\(path))")
}
