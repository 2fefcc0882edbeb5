#include <fieldbridge/mqtt/session.hpp>
