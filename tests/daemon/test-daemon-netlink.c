// SPDX-License-Identifier: MIT
/*
 * The vDPA netlink messages of the vdk command: built into a buffer and
 * read back with libmnl's parser, as the kernel would see them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/vdpa.h>

#include "test.h"
#include "vdpa-netlink.h"

#define MAX_ATTR 64

struct attrs {
	const struct nlattr *tb[MAX_ATTR];
	int count;
};

static int attr_cb(const struct nlattr *attr, void *data)
{
	struct attrs *a = data;
	int type = mnl_attr_get_type(attr);

	CHECK(type < MAX_ATTR);
	CHECK(a->tb[type] == NULL);  /* each attribute once */
	a->tb[type] = attr;
	a->count++;
	return MNL_CB_OK;
}

/* Common header checks; fills @a with the attributes. */
static void parse(const struct nlmsghdr *nlh, uint16_t type, uint8_t cmd,
		  uint8_t version, uint32_t seq, struct attrs *a)
{
	const struct genlmsghdr *genl;

	CHECK(nlh);
	CHECK(mnl_nlmsg_ok(nlh, nlh->nlmsg_len));
	CHECK_EQ(nlh->nlmsg_type, type);
	CHECK_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	CHECK_EQ(nlh->nlmsg_seq, seq);
	CHECK_EQ(nlh->nlmsg_pid, 0);
	genl = mnl_nlmsg_get_payload(nlh);
	CHECK_EQ(genl->cmd, cmd);
	CHECK_EQ(genl->version, version);
	memset(a, 0, sizeof(*a));
	CHECK(mnl_attr_parse(nlh, sizeof(*genl), attr_cb, a) >= 0);
}

static void check_str(const struct nlattr *attr, const char *want)
{
	CHECK(attr);
	CHECK(mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0);
	CHECK(!strcmp(mnl_attr_get_str(attr), want));
	/* NUL-terminated, as the kernel's NLA_NUL_STRING policy wants. */
	CHECK_EQ(mnl_attr_get_payload_len(attr), strlen(want) + 1);
}

static void test_getfamily(char *buf)
{
	struct attrs a;

	parse(vdk_nl_build_getfamily(buf, 7), GENL_ID_CTRL,
	      CTRL_CMD_GETFAMILY, 1, 7, &a);
	CHECK_EQ(a.count, 1);
	check_str(a.tb[CTRL_ATTR_FAMILY_NAME], "vdpa");
}

static void test_dev_new(char *buf)
{
	struct attrs a;

	parse(vdk_nl_build_dev_new(buf, 0x1d, 8, "disk0", "vduse"), 0x1d,
	      VDPA_CMD_DEV_NEW, VDPA_GENL_VERSION, 8, &a);
	CHECK_EQ(a.count, 2);
	check_str(a.tb[VDPA_ATTR_MGMTDEV_DEV_NAME], "vduse");
	check_str(a.tb[VDPA_ATTR_DEV_NAME], "disk0");
	/* VDUSE's management device has no bus. */
	CHECK(a.tb[VDPA_ATTR_MGMTDEV_BUS_NAME] == NULL);
}

static void test_dev_del(char *buf)
{
	struct attrs a;

	parse(vdk_nl_build_dev_del(buf, 0x1d, 9, "d:1.x-y_z"), 0x1d,
	      VDPA_CMD_DEV_DEL, VDPA_GENL_VERSION, 9, &a);
	CHECK_EQ(a.count, 1);
	check_str(a.tb[VDPA_ATTR_DEV_NAME], "d:1.x-y_z");
}

static void test_mgmtdev(char *buf)
{
	struct attrs a;

	parse(vdk_nl_build_mgmtdev_get(buf, 0x22, 10, "vduse"), 0x22,
	      VDPA_CMD_MGMTDEV_GET, VDPA_GENL_VERSION, 10, &a);
	CHECK_EQ(a.count, 1);
	check_str(a.tb[VDPA_ATTR_MGMTDEV_DEV_NAME], "vduse");
}

static void test_too_long(char *buf)
{
	size_t n = MNL_SOCKET_BUFFER_SIZE + 10;
	char *name = malloc(n);

	CHECK(name);
	memset(name, 'a', n - 1);
	name[n - 1] = '\0';
	CHECK(vdk_nl_build_dev_new(buf, 0x1d, 1, name, "vduse") == NULL);
	CHECK(vdk_nl_build_dev_del(buf, 0x1d, 1, name) == NULL);
	CHECK(vdk_nl_build_mgmtdev_get(buf, 0x1d, 1, name) == NULL);
	/* The longest VDUSE name fits. */
	name[255] = '\0';
	CHECK(vdk_nl_build_dev_new(buf, 0x1d, 1, name, "vduse") != NULL);
	free(name);
}

/* A CTRL_CMD_NEWFAMILY answer as the kernel sends it. */
static struct nlmsghdr *family_reply(char *buf, bool with_id, bool u32_id)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl;
	struct nlattr *nest;

	nlh->nlmsg_type = GENL_ID_CTRL;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = CTRL_CMD_NEWFAMILY;
	genl->version = 2;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "vdpa");
	if (with_id && u32_id)
		mnl_attr_put_u32(nlh, CTRL_ATTR_FAMILY_ID, 0x1234);
	else if (with_id)
		mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, 0x1234);
	mnl_attr_put_u32(nlh, CTRL_ATTR_VERSION, 1);
	nest = mnl_attr_nest_start(nlh, CTRL_ATTR_OPS);
	mnl_attr_put_u32(nlh, 1, 3);
	mnl_attr_nest_end(nlh, nest);
	/* An attribute from a newer kernel. */
	mnl_attr_put_u32(nlh, CTRL_ATTR_MAX + 5, 0);
	return nlh;
}

static void test_parse_family(char *buf)
{
	uint16_t id = 0;
	struct nlmsghdr *nlh;

	CHECK_EQ(vdk_nl_parse_family(family_reply(buf, true, false), &id), 0);
	CHECK_EQ(id, 0x1234);
	CHECK_EQ(vdk_nl_parse_family(family_reply(buf, false, false), &id),
		 -EINVAL);
	CHECK_EQ(vdk_nl_parse_family(family_reply(buf, true, true), &id),
		 -EINVAL);
	nlh = family_reply(buf, true, false);
	nlh->nlmsg_type = 0x1d;
	CHECK_EQ(vdk_nl_parse_family(nlh, &id), -EINVAL);
}

/*
 * The real kernel: the generic netlink controller answers.  Without the
 * vdpa module (as on a build host) the family is missing.
 */
static void test_open(void)
{
	struct vdk_nl *nl = NULL;
	int ret = vdk_nl_open(&nl);

	if (ret == -EAFNOSUPPORT || ret == -EPROTONOSUPPORT ||
	    ret == -EPERM || ret == -EACCES) {
		fprintf(stderr, "no generic netlink here: %d\n", ret);
		return;
	}
	CHECK(ret == 0 || ret == -ENOENT);
	if (ret == 0) {
		/* vdpa is loaded: a name that is surely not on the bus. */
		CHECK_EQ(vdk_nl_dev_del(nl, "vdk-test-no-such-device"),
			 -ENODEV);
		vdk_nl_close(nl);
	}
	vdk_nl_close(NULL);
}

int main(void)
{
	char *buf = calloc(1, MNL_SOCKET_BUFFER_SIZE);

	CHECK(buf);
	test_getfamily(buf);
	test_dev_new(buf);
	test_dev_del(buf);
	test_mgmtdev(buf);
	test_too_long(buf);
	test_parse_family(buf);
	test_open();
	free(buf);
	return T_EXIT_PASS;
}
