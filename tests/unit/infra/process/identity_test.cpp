#include "gpumod/infra/process/identity.hpp"

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "gpumod/infra/process/proc_stat.hpp"

namespace gpumod::infra::process {
namespace {

TEST(ProcStatTest, ParsesAfterTheLastParenthesis) {
  // A command name with spaces and parentheses must not shift the fields.
  std::string text = "4242 (we) ird (name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 "
                     "200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n";
  auto st = parse_proc_stat(text);
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_EQ(st->pid, 4242);
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->pgid, 4242);
  EXPECT_EQ(st->session, 4242);
  EXPECT_EQ(st->start_time_ticks, 987654u);
}

TEST(ProcStatTest, RejectsTruncatedText) {
  EXPECT_FALSE(parse_proc_stat("12 (x) S 1 2 3").has_value());
  EXPECT_FALSE(parse_proc_stat("garbage").has_value());
}

TEST(ProcessIdentityTest, OwnProcessIsAliveOnlyWithItsStartTime) {
  auto id = identify(::getpid());
  ASSERT_TRUE(id.has_value()) << id.error().message;
  EXPECT_GT(id->start_time_ticks, 0u);
  EXPECT_TRUE(is_same_process_alive(*id));
  ProcessIdentity recycled{id->pid, id->start_time_ticks + 1};
  EXPECT_FALSE(is_same_process_alive(recycled));
  EXPECT_FALSE(is_same_process_present(recycled));
  EXPECT_FALSE(is_same_process_alive(ProcessIdentity{}));
}

TEST(ProcessIdentityTest, MissingProcessIsNotFound) {
  auto t = process_start_time(0x7ffffff0);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().code, util::ErrorCode::not_found);
  EXPECT_EQ(process_start_time(-1).error().code, util::ErrorCode::invalid_argument);
}

TEST(ProcessIdentityTest, ZombieIsNotAliveButPresent) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);  // zombie, not reaped
  auto start = process_start_time(pid);
  ASSERT_TRUE(start.has_value());
  ProcessIdentity id{pid, *start};
  EXPECT_FALSE(is_same_process_alive(id));
  EXPECT_TRUE(is_same_process_present(id));
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  EXPECT_FALSE(is_same_process_present(id));
}

}  // namespace
}  // namespace gpumod::infra::process
