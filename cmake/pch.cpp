// Compiled only to build the precompiled header (cmake/FieldbridgePch.cmake).
