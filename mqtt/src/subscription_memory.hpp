// The session's subscription memory (session_config::restore_subscriptions):
// the filters subscribe() asked for and what the broker granted for each, so
// a lost session gets its subscriptions back. What the broker granted last
// is what is restored; a newer request for the same filter replaces it only
// once its SUBACK grants it; unsubscribe() forgets at once.
//
// Private header of fieldbridge_mqtt_protocol. Sending the restoring
// SUBSCRIBEs and matching the SUBACKs is the session's business.
#pragma once

#include <fieldbridge/mqtt/packet.hpp>
#include <fieldbridge/mqtt/properties.hpp>
#include <fieldbridge/mqtt/session.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace fieldbridge::mqtt {

class subscription_memory {
 public:
  // subscribe() `token` asked for these (pending until its SUBACK).
  void remember_pending(const std::vector<subscription>& subs, const properties& props, message_token token);
  // The SUBACK code for `filter` of the request `token`: granted, the
  // pending options become the remembered ones; refused, the broker keeps
  // (and we remember) what it had.
  void settle(std::string_view filter, message_token token, bool granted);
  // Filters neither granted nor pending are forgotten (after settle()).
  void forget_if_empty();
  // The subscribe() `token` failed as a whole (not sent, connection lost).
  void drop_pending(message_token token);
  // unsubscribe(): forgotten whatever the UNSUBACK says.
  void forget(const std::vector<std::string>& filters);

  // The granted subscriptions, in the order first asked for.
  std::vector<subscription> granted() const;
  bool any_granted() const;

  // A CONNACK said the session is not present: the broker lacks every
  // granted subscription (when there is one).
  void on_session_lost();
  // A restoring SUBSCRIBE was lost with its connection: restore again.
  void on_restore_lost() { restore_needed_ = true; }
  // The broker lacks the remembered subscriptions: set by on_session_lost(),
  // cleared by take_restore(), set again by on_restore_lost().
  bool restore_needed() const noexcept { return restore_needed_; }
  // The SUBSCRIBEs (without packet id) that give the broker the granted
  // subscriptions back: one per distinct set of SUBSCRIBE properties
  // (subscription identifier, user properties); usually one. Clears
  // restore_needed().
  std::vector<subscribe_packet> take_restore();

 private:
  struct remembered {
    std::string filter;
    bool is_granted = false;
    subscription granted;
    properties granted_props;
    bool is_pending = false;
    message_token pending_token = 0;
    subscription pending;
    properties pending_props;
  };

  remembered* find_remembered(std::string_view filter);

  std::vector<remembered> subscriptions_;  // in the order first asked for
  bool restore_needed_ = false;
};

}  // namespace fieldbridge::mqtt
