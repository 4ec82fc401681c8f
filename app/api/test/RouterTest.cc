// Router: exact segment matching with {param} captures, and the 404 / 405 split.

#include "app/api/Router.h"

#include <gtest/gtest.h>

namespace rdv::api {
namespace {

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    health_ = router_.add(Method::Get, "/health");
    list_ = router_.add(Method::Get, "/api/v1/calls");
    get_ = router_.add(Method::Get, "/api/v1/calls/{id}");
    del_ = router_.add(Method::Delete, "/api/v1/calls/{id}");
    mute_ = router_.add(Method::Post, "/api/v1/conferences/{room}/participants/{id}/mute");
  }
  Router router_;
  size_t health_ = 0, list_ = 0, get_ = 0, del_ = 0, mute_ = 0;
};

TEST_F(RouterTest, LiteralPathFindsItsRoute) {
  auto r = router_.find("GET", "/health");
  ASSERT_TRUE(std::holds_alternative<RouteFound>(r));
  EXPECT_EQ(std::get<RouteFound>(r).route, health_);
  EXPECT_TRUE(std::get<RouteFound>(r).params.empty());
}

TEST_F(RouterTest, ParamSegmentsAreCapturedByName) {
  auto r = router_.find("POST", "/api/v1/conferences/blue/participants/p7/mute");
  ASSERT_TRUE(std::holds_alternative<RouteFound>(r));
  const auto& found = std::get<RouteFound>(r);
  EXPECT_EQ(found.route, mute_);
  EXPECT_EQ(found.params.at("room"), "blue");
  EXPECT_EQ(found.params.at("id"), "p7");
}

TEST_F(RouterTest, SameMethodPicksTheRouteOfThatMethod) {
  auto r = router_.find("DELETE", "/api/v1/calls/abc");
  ASSERT_TRUE(std::holds_alternative<RouteFound>(r));
  EXPECT_EQ(std::get<RouteFound>(r).route, del_);
  EXPECT_EQ(std::get<RouteFound>(r).params.at("id"), "abc");
}

TEST_F(RouterTest, NearMissesAreNotFound) {
  for (const char* path : {"/healthz", "/health/", "//health", "/api/v1", "/api/v1/calls/", "/api/v1/calls/a/b",
                           "health", "", "/api/v1//calls"}) {
    EXPECT_TRUE(std::holds_alternative<RouteNotFound>(router_.find("GET", path))) << path;
  }
}

TEST_F(RouterTest, KnownPathWithAnotherMethodListsTheAllowedOnes) {
  auto r = router_.find("PUT", "/api/v1/calls/x");
  ASSERT_TRUE(std::holds_alternative<RouteWrongMethod>(r));
  EXPECT_EQ(std::get<RouteWrongMethod>(r).allow, "GET, DELETE");
  auto options = router_.find("OPTIONS", "/health");
  ASSERT_TRUE(std::holds_alternative<RouteWrongMethod>(options));
  EXPECT_EQ(std::get<RouteWrongMethod>(options).allow, "GET");
}

}  // namespace
}  // namespace rdv::api
