// SPDX-License-Identifier: MIT
/*
 * vDPA device management over generic netlink, with libmnl.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/vdpa.h>

#include "vdpa-netlink.h"

struct vdk_nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	uint16_t family;
	char *buf;  /* MNL_SOCKET_BUFFER_SIZE bytes */
};

static struct nlmsghdr *genl_start(void *buf, uint16_t type, uint8_t cmd,
				   uint8_t version, uint32_t seq)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = version;
	return nlh;
}

struct nlmsghdr *vdk_nl_build_getfamily(void *buf, uint32_t seq)
{
	struct nlmsghdr *nlh;

	nlh = genl_start(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, seq);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, VDPA_GENL_NAME);
	return nlh;
}

struct nlmsghdr *vdk_nl_build_dev_new(void *buf, uint16_t family,
				      uint32_t seq, const char *name,
				      const char *mgmtdev)
{
	struct nlmsghdr *nlh;

	nlh = genl_start(buf, family, VDPA_CMD_DEV_NEW, VDPA_GENL_VERSION,
			 seq);
	/* VDUSE's management device has no bus: the name alone. */
	if (!mnl_attr_put_strz_check(nlh, MNL_SOCKET_BUFFER_SIZE,
				     VDPA_ATTR_MGMTDEV_DEV_NAME, mgmtdev) ||
	    !mnl_attr_put_strz_check(nlh, MNL_SOCKET_BUFFER_SIZE,
				     VDPA_ATTR_DEV_NAME, name))
		return NULL;
	return nlh;
}

struct nlmsghdr *vdk_nl_build_dev_del(void *buf, uint16_t family,
				      uint32_t seq, const char *name)
{
	struct nlmsghdr *nlh;

	nlh = genl_start(buf, family, VDPA_CMD_DEV_DEL, VDPA_GENL_VERSION,
			 seq);
	if (!mnl_attr_put_strz_check(nlh, MNL_SOCKET_BUFFER_SIZE,
				     VDPA_ATTR_DEV_NAME, name))
		return NULL;
	return nlh;
}

struct nlmsghdr *vdk_nl_build_mgmtdev_get(void *buf, uint16_t family,
					  uint32_t seq, const char *mgmtdev)
{
	struct nlmsghdr *nlh;

	nlh = genl_start(buf, family, VDPA_CMD_MGMTDEV_GET, VDPA_GENL_VERSION,
			 seq);
	if (!mnl_attr_put_strz_check(nlh, MNL_SOCKET_BUFFER_SIZE,
				     VDPA_ATTR_MGMTDEV_DEV_NAME, mgmtdev))
		return NULL;
	return nlh;
}

static int family_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, CTRL_ATTR_MAX) < 0)
		return MNL_CB_OK;  /* newer kernel: ignore */
	if (type == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
		return MNL_CB_ERROR;
	tb[type] = attr;
	return MNL_CB_OK;
}

int vdk_nl_parse_family(const struct nlmsghdr *nlh, uint16_t *id)
{
	const struct nlattr *tb[CTRL_ATTR_MAX + 1] = { NULL };

	if (nlh->nlmsg_type != GENL_ID_CTRL ||
	    mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr_cb,
			   tb) < 0 ||
	    !tb[CTRL_ATTR_FAMILY_ID])
		return -EINVAL;
	*id = mnl_attr_get_u16(tb[CTRL_ATTR_FAMILY_ID]);
	return 0;
}

static int getfamily_cb(const struct nlmsghdr *nlh, void *data)
{
	return vdk_nl_parse_family(nlh, data) ? MNL_CB_ERROR : MNL_CB_OK;
}

/*
 * Send @nlh and run the answers through @cb until the kernel's ACK.
 * Returns 0 or the kernel's -errno.
 */
static int nl_talk(struct vdk_nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb,
		   void *data)
{
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(nl->sock, nl->buf,
					MNL_SOCKET_BUFFER_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		errno = 0;
		ret = mnl_cb_run(nl->buf, n, seq, nl->portid, cb, data);
		if (ret < 0)
			return errno ? -errno : -EPROTO;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

int vdk_nl_open(struct vdk_nl **out)
{
	struct nlmsghdr *nlh;
	struct vdk_nl *nl;
	int ret;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->buf = malloc(MNL_SOCKET_BUFFER_SIZE);
	if (!nl->buf) {
		ret = -ENOMEM;
		goto err_free;
	}
	nl->sock = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	if (!nl->sock) {
		ret = -errno;
		goto err_free_buf;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto err_close;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = time(NULL);

	nlh = vdk_nl_build_getfamily(nl->buf, ++nl->seq);
	ret = nl_talk(nl, nlh, getfamily_cb, &nl->family);
	if (ret)
		goto err_close;
	if (!nl->family) {
		ret = -ENOENT;
		goto err_close;
	}
	*out = nl;
	return 0;

err_close:
	mnl_socket_close(nl->sock);
err_free_buf:
	free(nl->buf);
err_free:
	free(nl);
	return ret;
}

void vdk_nl_close(struct vdk_nl *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->sock);
	free(nl->buf);
	free(nl);
}

int vdk_nl_dev_new(struct vdk_nl *nl, const char *name)
{
	struct nlmsghdr *nlh;

	nlh = vdk_nl_build_dev_new(nl->buf, nl->family, ++nl->seq, name,
				   VDK_VDPA_MGMTDEV);
	if (!nlh)
		return -ENAMETOOLONG;
	return nl_talk(nl, nlh, NULL, NULL);
}

int vdk_nl_dev_del(struct vdk_nl *nl, const char *name)
{
	struct nlmsghdr *nlh;

	nlh = vdk_nl_build_dev_del(nl->buf, nl->family, ++nl->seq, name);
	if (!nlh)
		return -ENAMETOOLONG;
	return nl_talk(nl, nlh, NULL, NULL);
}

int vdk_nl_mgmtdev_check(struct vdk_nl *nl, const char *mgmtdev)
{
	struct nlmsghdr *nlh;

	nlh = vdk_nl_build_mgmtdev_get(nl->buf, nl->family, ++nl->seq,
				       mgmtdev);
	if (!nlh)
		return -ENAMETOOLONG;
	return nl_talk(nl, nlh, NULL, NULL);
}
