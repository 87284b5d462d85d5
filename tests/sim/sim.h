/* SPDX-License-Identifier: MIT */
/*
 * An in-process simulator of the kernel's VDUSE side and of a virtio
 * driver, for libvdk's tests.
 *
 * It implements the library's kernel interface (lib/kernel.h): devices,
 * control messages, kick eventfds, interrupts, IOTLB regions.  The
 * driver's memory is an IOVA space [0, size) cut into regions at any
 * boundaries, down to one byte.  Each region is its own heap block of
 * exactly its size, so an access past a region's end is caught by
 * AddressSanitizer, and no two regions are adjacent in host memory, so
 * a buffer that spans regions must be translated piece by piece.  A
 * region can also live in a memfd (sim_region_file()), which the library
 * then maps itself, as it maps the file the kernel gives it.
 *
 * Every IOTLB answer, odd ones a test asks for included
 * (sim_iotlb_answer()), goes through the library's own checks of what
 * VDUSE_IOTLB_GET_FD returns (vdk__kernel_map_plan()).
 *
 * The driver side builds split or packed rings in that memory, posts requests,
 * kicks, and reads completions; tests can also write any bytes they like
 * into the rings (hostile drivers).
 */
#ifndef VDK_SIM_H
#define VDK_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/vduse.h>
#include <linux/virtio_ring.h>

#include "kernel.h"

struct sim;
struct vdk_dev;
struct vdk_dev_cfg;

/* IOVA space of @size bytes, one region, read-write. */
int sim_new(uint64_t size, struct sim **out);
void sim_free(struct sim *s);

/*
 * Create (or, @create false, reopen) a device through the simulator, as
 * vdk_dev_create()/vdk_dev_open() do through /dev/vduse.
 */
int sim_dev_new(struct sim *s, const struct vdk_dev_cfg *cfg, bool create,
		struct vdk_dev **out);

/* ---- driver memory ---- */

/*
 * Cut the IOVA space into regions at the @n sorted offsets in @cuts
 * (each 0 < cut < size).  Contents are kept.  Sends VDUSE_UPDATE_IOTLB for
 * the whole space, as the kernel does when mappings change; the caller
 * runs vdk_dev_process() to deliver it.
 */
int sim_cut(struct sim *s, const uint64_t *cuts, unsigned int n);

/* Make [start, last] unmapped (perm 0) or give it @perm; cuts as needed. */
int sim_set_perm(struct sim *s, uint64_t start, uint64_t last, uint8_t perm);

/*
 * Put the region around @iova in a memfd at @file_off (any offset, page
 * aligned or not), contents kept, before the library maps it: the
 * kernel's answers for it then give that offset and the library maps the
 * file.  -EBUSY when it is mapped or already in a file.
 */
int sim_region_file(struct sim *s, uint64_t iova, uint64_t file_off);

/*
 * The same at offset 0, and return a copy of the fd, for the test to
 * shrink under the library as a hostile client would; -errno on failure.
 */
int sim_region_memfd(struct sim *s, uint64_t iova);

/*
 * An answer to VDUSE_IOTLB_GET_FD that the kernel should not give: the
 * fields named in @set replace the region's own, or SIM_ANS_ERROR makes
 * the call fail with @error.
 */
#define SIM_ANS_ERROR (1u << 0)
#define SIM_ANS_OFFSET (1u << 1)
#define SIM_ANS_START (1u << 2)
#define SIM_ANS_LAST (1u << 3)
#define SIM_ANS_PERM (1u << 4)

struct sim_answer {
	unsigned int set;
	int error; /* -errno */
	uint64_t offset, start, last;
	uint8_t perm;
};

/*
 * Give @a to the next @count mappings the library asks for in the region
 * around @iova (as the regions are when it asks); honest answers after
 * that, and for every other region.  Replaces an earlier call's answer.
 */
void sim_iotlb_answer(struct sim *s, uint64_t iova,
		      const struct sim_answer *a, unsigned int count);

/* How many of those answers are still to give. */
unsigned int sim_iotlb_answers_left(const struct sim *s);

/*
 * Make [0, @size) VDUSE's bounce buffer (cut there if needed): the
 * library may then back it with its memory (VDK_DEV_F_BOUNCE_UMEM), and
 * the driver's reads and writes there go through that memory while it
 * does, as the kernel's bounce copies do.  Closing the device gives the
 * memory back, contents copied.  Cuts are refused (-EBUSY) while it is
 * backed.  -EINVAL for a size not in pages or larger than the space.
 */
int sim_bounce(struct sim *s, uint64_t size);
/* Have registrations fail with @error (-ENOMEM, say); 0 lets them. */
void sim_umem_fail(struct sim *s, int error);
/* The library's memory backing it, or NULL; registrations that took. */
void *sim_umem(const struct sim *s);
unsigned int sim_umem_regs(const struct sim *s);

/* Copy into / out of driver memory at @iova, across regions. */
void sim_write(struct sim *s, uint64_t iova, const void *buf, uint64_t len);
void sim_read(struct sim *s, uint64_t iova, void *buf, uint64_t len);
void sim_fill(struct sim *s, uint64_t iova, int byte, uint64_t len);

/* Number of regions the library has mapped and not unmapped. */
unsigned int sim_live_maps(const struct sim *s);

/* ---- control path ---- */

/* Queue a control message and run vdk_dev_process(); returns result. */
int sim_control(struct sim *s, struct vdk_dev *dev,
		const struct vduse_dev_request *req,
		struct vduse_dev_response *resp);
int sim_set_status(struct sim *s, struct vdk_dev *dev, uint8_t status);
int sim_update_iotlb(struct sim *s, struct vdk_dev *dev, uint64_t start,
		     uint64_t last);

/* API version the simulated kernel reports (default 0), before creation. */
void sim_set_api_version(struct sim *s, uint64_t version);
uint64_t sim_api_version_set(const struct sim *s);
/*
 * VDUSE features (VDUSE_F_* bits) the simulated kernel offers, before
 * creation (default 0: VDUSE_GET_FEATURES fails, as before 7.3), and
 * those the library asked for.
 */
void sim_set_vduse_features(struct sim *s, uint64_t offered);
uint64_t sim_vduse_features_set(const struct sim *s);
/* Queue groups and address spaces of the device created. */
void sim_dev_groups(const struct sim *s, uint32_t *ngroups, uint32_t *nas);

/* Configuration space as the driver sees it, and config interrupts. */
const uint8_t *sim_config(const struct sim *s, uint32_t *size);
unsigned int sim_config_irqs(const struct sim *s);
uint64_t sim_device_features(const struct sim *s);
bool sim_dev_exists(const struct sim *s);

/* ---- the driver's virtqueues ---- */

/*
 * Lay out queue @q with @num entries at @ring_iova (desc, avail, used
 * packed as the legacy layout with 4096 alignment for used) and mark it
 * ready.  Returns the number of bytes used.
 */
uint64_t sim_vq_setup(struct sim *s, unsigned int q, unsigned int num,
		      uint64_t ring_iova);

/*
 * Negotiate @features and set DRIVER_OK: the device starts its queues.
 * A device that took VDUSE_F_QUEUE_READY is told of each ready queue
 * first, as the kernel does.
 */
int sim_driver_ok(struct sim *s, struct vdk_dev *dev, uint64_t features);

struct sim_buf {
	uint64_t iova;
	uint32_t len;
	bool write; /* device-writable */
};

/*
 * Post a request of @n buffers.  With @indirect_iova non-zero the chain
 * goes into an indirect table written there.  Returns the head, or -1
 * when the ring has no room.
 */
int sim_vq_add(struct sim *s, unsigned int q, const struct sim_buf *bufs,
	       unsigned int n, uint64_t indirect_iova);

/*
 * Kick, if the device asked for kicks (VRING_USED_F_NO_NOTIFY or the event
 * index); returns whether it kicked.  @force kicks regardless.
 */
bool sim_vq_kick(struct sim *s, unsigned int q, bool force);

/*
 * Next completion: 1 with *id and *len, 0 when none.  With
 * VIRTIO_F_IN_ORDER negotiated, as Linux reads them: one used entry may
 * complete a run of the oldest buffers posted by sim_vq_add(), each but
 * the one it names with its whole length.
 */
int sim_vq_used(struct sim *s, unsigned int q, uint16_t *id, uint32_t *len);

/* In order: a used entry came for no buffer posted (a device bug). */
bool sim_vq_in_order_bad(const struct sim *s, unsigned int q);

/* Interrupts injected for queue @q so far. */
unsigned int sim_vq_irqs(const struct sim *s, unsigned int q);

/* Driver-side event index / no-interrupt control. */
void sim_vq_set_used_event(struct sim *s, unsigned int q, uint16_t idx);
void sim_vq_set_no_interrupt(struct sim *s, unsigned int q, bool on);

/*
 * Raw ring access for hostile tests: write descriptor @i, put @head in the
 * avail ring and publish avail->idx (+@count entries).
 */
void sim_vq_raw_desc(struct sim *s, unsigned int q, unsigned int i,
		     uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next);
void sim_vq_raw_avail(struct sim *s, unsigned int q, uint16_t head);
void sim_vq_raw_avail_idx(struct sim *s, unsigned int q, uint16_t idx);
uint16_t sim_vq_avail_idx(const struct sim *s, unsigned int q);
uint16_t sim_vq_used_idx(struct sim *s, unsigned int q);

/*
 * ---- packed rings (VIRTIO_F_RING_PACKED) ----
 *
 * sim_pvq_setup() lays out queue @q as a packed ring: @num descriptors
 * at @ring_iova, the driver's event suppression right after them, the
 * device's 4 bytes further.  Then sim_vq_add(), sim_vq_kick(),
 * sim_vq_used() and sim_vq_set_no_interrupt() work on it as a packed
 * driver does: sim_vq_add() returns the buffer id, chains go at
 * consecutive positions with the head made available last, an indirect
 * table's entries have no NEXT.  Returns the bytes used.
 */
uint64_t sim_pvq_setup(struct sim *s, unsigned int q, unsigned int num,
		       uint64_t ring_iova);

/* The positions VDUSE_VQ_GET_INFO reports (default idx 0, counters 1). */
void sim_pvq_set_state(struct sim *s, unsigned int q,
		       const struct vduse_vq_state_packed *st);

/*
 * Post @n descriptors as they are (flags without AVAIL/USED, which are
 * set for each position) at the driver's next positions, the first made
 * available last; the buffer id is that of the last.
 */
void sim_pvq_raw_post(struct sim *s, unsigned int q,
		      const struct vring_packed_desc *descs, unsigned int n);

/* Write ring entry @pos exactly so (flags included), nothing else. */
void sim_pvq_raw_write(struct sim *s, unsigned int q, unsigned int pos,
		       uint64_t addr, uint32_t len, uint16_t id,
		       uint16_t flags);

/* The driver's next avail position and its wrap counter. */
void sim_pvq_position(const struct sim *s, unsigned int q, uint16_t *idx,
		      bool *wrap);

/* The driver's event suppression: VRING_PACKED_EVENT_FLAG_*, off_wrap. */
void sim_pvq_set_event(struct sim *s, unsigned int q, uint16_t flags,
		       uint16_t off_wrap);

/* The driver's next used position, idx | wrap counter << 15. */
uint16_t sim_pvq_used_pos(const struct sim *s, unsigned int q);

/* The device's event suppression flags (and its off_wrap). */
uint16_t sim_pvq_device_event(struct sim *s, unsigned int q,
			      uint16_t *off_wrap);

#endif /* VDK_SIM_H */
