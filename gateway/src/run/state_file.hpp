// The gateway's small state files beside the store (what Home Assistant was
// told, the Sparkplug bdSeq): written whole or not at all.
#pragma once

#include <string>
#include <string_view>

namespace fieldbridge::gateway {

// Replaces `path` with `text`: written to `path`.tmp, synced, then renamed
// over it, so a crash leaves the old file or the new one, never a part.
// False (and `path` untouched) when any step fails.
bool replace_file(const std::string& path, std::string_view text);

}  // namespace fieldbridge::gateway
